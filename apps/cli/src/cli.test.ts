// Goal: `ferry` does what its help promises against the REST contract: tables and --json,
// every page of a list, names resolved to ids, problem+json messages shown, the token lookup,
// `job watch` following a job to each outcome, and each exit code a script relies on.
// Method: run `main(argv, io)` in-process against a small HTTP double of the API (testing/
// fake-api.ts) on a free local port, with captured streams and a page size of 2.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/ports';
import type { JobDoc } from './api-types';
import { main } from './cli';
import { ExitCode } from './exit-code';
import type { CliIo } from './io';
import { FakeApi, problem } from './testing/fake-api';

const ADMIN = 'ferry_' + 'a'.repeat(43);
const READER = 'ferry_' + 'r'.repeat(43);
const GiB = 1024 ** 3;

let api: FakeApi;
let url: string;
let port: number;
let tmp: string;

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(args: string[], over: Partial<CliIo> & { stderrTTY?: boolean } = {}): Promise<Run> {
  let out = '';
  let err = '';
  const stderr = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      err += chunk.toString();
      cb();
    },
  }) as Writable & { isTTY?: boolean; columns?: number };
  if (over.stderrTTY) {
    stderr.isTTY = true;
    stderr.columns = 100;
  }
  const io: CliIo = {
    stdout: { write: (s: string) => (out += s) },
    stderr,
    env: { FERRY_URL: url, FERRY_TOKEN: ADMIN },
    cwd: tmp,
    stdinIsTTY: false,
    prompt: () => Promise.reject(new Error('no question expected')),
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
    pageSize: 2,
    ...over,
  };
  const code = await main(args, io);
  return { code, out, err };
}

const sent = (method: string, path: string) => api.requests.filter((r) => r.method === method && r.path === `/api/v1${path}`);

beforeEach(async () => {
  api = new FakeApi();
  api.tokens.set(ADMIN, 'admin');
  api.tokens.set(READER, 'read-only');
  port = await freePort();
  url = await api.start(port);
  tmp = mkdtempSync(join(tmpdir(), 'ferry-cli-'));
});

afterEach(async () => {
  await api.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('lists', () => {
  beforeEach(() => {
    api.movers.push({ id: 'm-1', name: 'mover-a', address: '10.0.0.5', nfsPort: 2049, httpPort: 8049, state: 'active', healthy: true, lastHeartbeat: '2025-01-01T00:00:00Z', filesystems: [{ id: 'x', name: 'alpha' }] });
    api.addFilesystem('alpha', 10 * GiB, { ownerMoverId: 'm-1', usage: { sizeBytes: 10 * GiB, usedBytes: GiB, freeBytes: 9 * GiB, files: 12, freeFiles: 1000 } });
    api.addFilesystem('beta', 20 * GiB);
    api.addFilesystem('gamma', 512 * 1024 ** 2, { state: 'creating' });
  });

  it('fs list reads every page and prints a table', async () => {
    const r = await run(['fs', 'list']);
    expect(r.code, r.err).toBe(0);
    expect(sent('GET', '/filesystems').map((q) => q.query)).toEqual([
      { limit: '2', offset: '0' },
      { limit: '2', offset: '2' },
    ]);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+FSID\s+STATE\s+SIZE\s+USED\s+FREE\s+FILES\s+MOVER$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^alpha\s+2\s+ready\s+10\.0 GiB\s+1\.00 GiB\s+9\.00 GiB\s+12\s+mover-a$/);
    expect(lines[3]).toMatch(/^gamma\s+4\s+creating\s+512\.0 MiB\s+-\s+-\s+-\s+-$/);
  });

  it('fs list --json prints one document holding every item', async () => {
    const r = await run(['--json', 'fs', 'list']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { items: Array<{ name: string }>; total: number; offset: number };
    expect(doc.items.map((f) => f.name)).toEqual(['alpha', 'beta', 'gamma']);
    expect(doc.total).toBe(3);
    expect(doc.offset).toBe(0);
  });

  it('--limit/--offset show one page as the API returns it', async () => {
    const r = await run(['fs', 'list', '--limit', '1', '--offset', '1']);
    expect(r.code).toBe(0);
    expect(sent('GET', '/filesystems')).toHaveLength(1);
    expect(r.out).toMatch(/^beta\s/m);
    expect(r.out).not.toMatch(/alpha|gamma/);
    expect(r.out).toContain('items 2-2 of 3');
    const j = await run(['fs', 'list', '--json', '--limit', '2', '--offset', '2']);
    expect(JSON.parse(j.out)).toMatchObject({ total: 3, limit: 2, offset: 2, items: [{ name: 'gamma' }] });
    expect((await run(['fs', 'list', '--limit', '501'])).code).toBe(ExitCode.Usage);
  });

  it('an empty list says so', async () => {
    api.filesystems = [];
    expect((await run(['fs', 'list'])).out).toBe('no filesystems\n');
  });

  it('mover list shows health and the filesystems owned', async () => {
    const r = await run(['mover', 'list']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^NAME\s+STATE\s+HEALTHY\s+ADDRESS\s+NFS\s+HTTP\s+FILESYSTEMS\s+LAST HEARTBEAT$/m);
    expect(r.out).toMatch(/^mover-a\s+active\s+yes\s+10\.0\.0\.5\s+2049\s+8049\s+alpha\s+2025-01-01T00:00:00Z$/m);
    expect(JSON.parse((await run(['mover', 'list', '--json'])).out)).toMatchObject({ total: 1, items: [{ name: 'mover-a' }] });
  });

  it('mover drain marks the mover draining, and --wait waits until it is drained', async () => {
    api.drainCompletes = false;
    const r = await run(['mover', 'drain', 'mover-a']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mover mover-a: draining \(holds alpha; the controller is moving them\)$/m);
    expect((await run(['mover', 'drain', 'nobody'])).code).toBe(3);
    expect((await run(['mover', 'drain', 'mover-a', '--wait', '1'])).code).toBe(1);
    api.drainCompletes = true;
    const w = await run(['mover', 'drain', 'mover-a', '--wait', '5']);
    expect(w.code).toBe(0);
    expect(w.out).toBe('mover mover-a: drained\n');
  });

  it('status prints one line per part, or the API document as JSON', async () => {
    const r = await run(['status']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        `api:          ${url}/api/v1 (version 0.1.0)`,
        'database:     ok (0.42 ms)',
        'redis:        not used (in-process jobs and events)',
        'movers:       1 (1 healthy)',
        'filesystems:  2 (ready 1, creating 1)',
        'jobs:         1 running, 0 queued',
        '',
      ].join('\n'),
    );
    expect(JSON.parse((await run(['status', '--json'])).out)).toEqual(api.status);
    api.status = { database: { ok: false, error: 'connection refused' }, redis: { configured: true, ok: true }, movers: { total: 0, healthy: 0 } };
    const down = await run(['status']);
    expect(down.out).toMatch(/^database: +DOWN: connection refused$/m);
    expect(down.out).toMatch(/^redis: +ok$/m);
    // A document of another shape is shown as it is.
    api.status = { version: '9', something: { new: true } };
    expect((await run(['status'])).out).toContain('something:\n  new: true');
  });
});

describe('fs create, grow, delete', () => {
  it('create sends the parsed size and names the format job', async () => {
    const r = await run(['fs', 'create', 'data', '--size', '10G']);
    expect(r.code, r.err).toBe(0);
    expect(sent('POST', '/filesystems')[0]?.body).toEqual({ name: 'data', sizeBytes: 10 * GiB });
    const job = api.jobs[0] as JobDoc;
    expect(r.out).toContain(`ferry job watch ${job.id}`);
  });

  it('a bad size is a usage error and sends nothing', async () => {
    for (const size of ['12Q', '0', '-1', '99999999999T']) {
      const r = await run(['fs', 'create', 'data', '--size', size]);
      expect(r.code, size).toBe(ExitCode.Usage);
      expect(r.err).toContain('not a size');
    }
    expect((await run(['fs', 'create', 'data'])).code).toBe(ExitCode.Usage);
    expect(api.requests).toHaveLength(0);
  });

  it('the API refusal is shown from its problem document with the mapped exit code', async () => {
    api.addFilesystem('data', GiB);
    const dup = await run(['fs', 'create', 'data', '--size', '1G']);
    expect(dup.code).toBe(ExitCode.Failed);
    expect(dup.err).toBe('ferry: Conflict (409): a filesystem named "data" exists\n');
    const bad = await run(['fs', 'create', 'Bad_Name', '--size', '1G']);
    expect(bad.code).toBe(ExitCode.Usage);
    expect(bad.err).toContain('Bad Request (400): validation failed\n  name: name must match [a-z0-9][a-z0-9._-]{0,62}');
    // A detail that already names the field errors is not followed by them again.
    api.intercept = () => problem(400, 'Bad Request', 'invalid request: name: too long', { name: ['too long'], sizeBytes: ['must be an integer'] });
    const dup2 = await run(['fs', 'create', 'x', '--size', '1G']);
    expect(dup2.err).toBe('ferry: Bad Request (400): invalid request: name: too long\n  sizeBytes: must be an integer\n');
  });

  it('create --wait follows the format job to success, line by line off a terminal', async () => {
    let id = '';
    api.onFormatJob = (j) => {
      id = j.id;
      api.jobScript.set(id, [job(id, 'queued', 0, null, null, 'format'), job(id, 'running', 0.5, { blocksDone: 5 }, null, 'format'), job(id, 'running', 0.5, { blocksDone: 5 }, null, 'format'), job(id, 'succeeded', 1, null, null, 'format')]);
    };
    const r = await run(['fs', 'create', 'data', '--size', '1G', '--wait', '--interval', '0.01']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`job ${id} format: running 50% blocksDone=5\n`);
    expect(r.out.match(/running 50%/g)).toHaveLength(1);
    expect(r.out.trimEnd().split('\n').slice(-2)).toEqual([`job ${id} format: succeeded`, '  result: blocksChecked=10 damaged=0']);
  });

  it('grow resolves the name across pages and patches the size; shrinking is refused', async () => {
    api.addFilesystem('a', GiB);
    api.addFilesystem('b', GiB);
    const c = api.addFilesystem('c', 10 * GiB);
    const r = await run(['fs', 'grow', 'c', '--size', '20G']);
    expect(r.code, r.err).toBe(0);
    expect(sent('GET', '/filesystems')).toHaveLength(2);
    expect(sent('PATCH', `/filesystems/${c.id}`)[0]?.body).toEqual({ sizeBytes: 20 * GiB });
    expect(r.out).toBe('filesystem c: size 20.0 GiB\n');
    const shrink = await run(['fs', 'grow', 'c', '--size', '1G']);
    expect(shrink.code).toBe(ExitCode.Failed);
    expect(shrink.err).toContain('Unprocessable Entity (422): filesystems only grow');
    const missing = await run(['fs', 'grow', 'nope', '--size', '1G']);
    expect(missing.code).toBe(ExitCode.NotFound);
    expect(missing.err).toBe('ferry: no filesystem named "nope" (see ferry fs list)\n');
  });

  it('delete needs --yes off a terminal, asks for the name on one, and passes ?confirm', async () => {
    const f = api.addFilesystem('old', GiB);
    const noYes = await run(['fs', 'delete', 'old']);
    expect(noYes.code).toBe(ExitCode.Usage);
    expect(noYes.err).toContain('--yes');

    const wrong = await run(['fs', 'delete', 'old'], { stdinIsTTY: true, prompt: () => Promise.resolve('olt') });
    expect(wrong.code).toBe(ExitCode.Failed);
    expect(wrong.err).toContain('not confirmed, nothing deleted');
    expect(sent('DELETE', `/filesystems/${f.id}`)).toHaveLength(0);

    let asked = '';
    const typed = await run(['fs', 'delete', 'old'], {
      stdinIsTTY: true,
      prompt: (q) => {
        asked = q;
        return Promise.resolve('old\n');
      },
    });
    expect(asked).toContain('"old"');
    expect(typed.code, typed.err).toBe(0);
    expect(sent('DELETE', `/filesystems/${f.id}`)[0]?.query).toEqual({ confirm: 'old' });
    expect(api.filesystems).toHaveLength(0);

    api.addFilesystem('x', GiB);
    expect((await run(['fs', 'delete', 'x', '--yes'])).code).toBe(0);
    expect(api.filesystems).toHaveLength(0);
  });

  it('deleting an exported filesystem is a failure with the API reason', async () => {
    const f = api.addFilesystem('busy', GiB);
    api.exports.push({ id: 'e1', path: '/busy', filesystemId: f.id });
    const r = await run(['fs', 'delete', 'busy', '--yes']);
    expect(r.code).toBe(ExitCode.Failed);
    expect(r.err).toBe('ferry: Conflict (409): filesystem "busy" is exported at /busy\n');
    expect(api.filesystems).toHaveLength(1);
  });
});

describe('exports', () => {
  it('add resolves the filesystem and sends the rules given', async () => {
    const f = api.addFilesystem('data', GiB);
    const r = await run(['export', 'add', '/data', '--fs', 'data', '--clients', '10.0.0.0/24, 192.168.1.7', '--ro', '--no-root-squash', '--anonuid', '1000', '--anongid', '100', '--insecure']);
    expect(r.code, r.err).toBe(0);
    expect(sent('POST', '/exports')[0]?.body).toEqual({ path: '/data', filesystemId: f.id, clients: ['10.0.0.0/24', '192.168.1.7'], access: 'ro', rootSquash: false, anonUid: 1000, anonGid: 100, secure: false });
    expect(r.out).toBe('export /data: filesystem data, ro, clients 10.0.0.0/24,192.168.1.7, squash none, anon 1000:100, insecure\n');
    // Rule flags not given are left to the API's defaults.
    expect((await run(['export', 'add', '/d2', '--fs', 'data', '--clients', '*'])).code).toBe(0);
    expect(sent('POST', '/exports')[1]?.body).toEqual({ path: '/d2', filesystemId: f.id, clients: ['*'] });
  });

  it('contradictory or malformed flags are usage errors that send nothing', async () => {
    api.addFilesystem('data', GiB);
    for (const args of [
      ['--ro', '--rw'],
      ['--secure', '--insecure'],
      ['--anonuid', '-3'],
      ['--anonuid', '4294967296'],
      ['--clients', ' , '],
    ]) {
      const r = await run(['export', 'add', '/data', '--fs', 'data', ...args]);
      expect(r.code, args.join(' ')).toBe(ExitCode.Usage);
    }
    expect((await run(['export', 'add', '/data', '--clients', '*'])).code, 'no --fs').toBe(ExitCode.Usage);
    const noClients = await run(['export', 'add', '/data', '--fs', 'data']);
    expect(noClients.code, 'no --clients').toBe(ExitCode.Usage);
    expect(noClients.err).toContain("required option '--clients <list>' not specified");
    expect(api.requests).toHaveLength(0);
  });

  it('a path the API refuses shows its field message (400 is exit 2); an unknown filesystem is exit 3', async () => {
    api.addFilesystem('data', GiB);
    const r = await run(['export', 'add', '/data/../etc', '--fs', 'data', '--clients', '*']);
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.err).toContain('\n  path: path must be absolute and normalised');
    expect((await run(['export', 'add', '/x', '--fs', 'nope', '--clients', '*'])).code).toBe(ExitCode.NotFound);
  });

  it('list shows filesystem names; set changes only the flags given; remove deletes', async () => {
    const f = api.addFilesystem('data', GiB);
    const g = api.addFilesystem('other', GiB);
    api.exports.push({ id: 'e1', path: '/data', filesystemId: f.id, clients: ['*'], access: 'rw', rootSquash: true, allSquash: false, anonUid: 65534, anonGid: 65534, secure: true });
    api.exports.push({ id: 'e2', path: '/a', filesystemId: f.id, clients: ['h1'], access: 'ro', rootSquash: true, allSquash: true, anonUid: 1, anonGid: 2, secure: false });
    api.exports.push({ id: 'e3', path: '/b', filesystemId: g.id, clients: [], access: 'rw', rootSquash: false, allSquash: false, anonUid: 3, anonGid: 4, secure: true });
    const list = await run(['export', 'list']);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^PATH\s+FILESYSTEM\s+ACCESS\s+CLIENTS\s+SQUASH\s+ANONUID\s+ANONGID\s+SECURE$/m);
    expect(list.out).toMatch(/^\/data\s+data\s+rw\s+\*\s+root\s+65534\s+65534\s+yes$/m);
    expect(list.out).toMatch(/^\/a\s+data\s+ro\s+h1\s+all\s+1\s+2\s+no$/m);
    expect(list.out).toMatch(/^\/b\s+other\s+rw\s+-\s+none\s+3\s+4\s+yes$/m);

    const set = await run(['export', 'set', '/b', '--clients', '10.1.0.0/16', '--root-squash']);
    expect(set.code, set.err).toBe(0);
    expect(sent('PATCH', '/exports/e3')[0]?.body).toEqual({ clients: ['10.1.0.0/16'], rootSquash: true });
    expect(set.out).toBe('export /b: rw, clients 10.1.0.0/16, squash root, anon 3:4, secure\n');
    // An export stays on its filesystem: the API's update has no such field.
    expect((await run(['export', 'set', '/b', '--fs', 'data'])).code).toBe(ExitCode.Usage);
    expect((await run(['export', 'set', '/b'])).code).toBe(ExitCode.Usage);
    expect((await run(['export', 'set', '/nope', '--ro'])).code).toBe(ExitCode.NotFound);

    const rm = await run(['export', 'remove', '/a']);
    expect(rm.code).toBe(0);
    expect(sent('DELETE', '/exports/e2')).toHaveLength(1);
    expect(api.exports.map((e) => e.path)).toEqual(['/data', '/b']);
    expect((await run(['export', 'remove', '/a'])).code).toBe(ExitCode.NotFound);
  });
});

function job(id: string, state: string, progress: number, detail: Record<string, unknown> | null = null, error: string | null = null, type = 'scrub'): JobDoc {
  return { id, type, params: { filesystemId: 'f1', fsid: '7' }, state, progress, detail, result: state === 'succeeded' ? { blocksChecked: 10, damaged: 0 } : null, error };
}

describe('jobs', () => {
  it('watch follows progress to success and prints the result', async () => {
    api.jobScript.set('j1', [job('j1', 'queued', 0), job('j1', 'running', 0.25, { blocksChecked: 25 }), job('j1', 'running', 0.75, { blocksChecked: 75 }), job('j1', 'succeeded', 1)]);
    const r = await run(['job', 'watch', 'j1', '--interval', '0.01']);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trimEnd().split('\n')).toEqual(['job j1 scrub: queued 0%', 'job j1 scrub: running 25% blocksChecked=25', 'job j1 scrub: running 75% blocksChecked=75', 'job j1 scrub: succeeded', '  result: blocksChecked=10 damaged=0']);
  });

  it('watch ends with exit 1 and the error when the job fails or is cancelled', async () => {
    api.jobScript.set('j2', [job('j2', 'running', 0.4), job('j2', 'failed', 0.4, null, 'checksum mismatch in block 7')]);
    const r = await run(['job', 'watch', 'j2', '--interval', '0.01']);
    expect(r.code).toBe(ExitCode.Failed);
    expect(r.out).toContain('job j2 scrub: failed: checksum mismatch in block 7');
    api.jobScript.set('j3', [job('j3', 'cancelled', 0.1)]);
    expect((await run(['job', 'watch', 'j3'])).code).toBe(ExitCode.Failed);
    const j = await run(['--json', 'job', 'watch', 'j3']);
    expect(j.code).toBe(ExitCode.Failed);
    expect(JSON.parse(j.out)).toMatchObject({ id: 'j3', state: 'cancelled' });
  });

  it('watch draws a progress bar on a terminal', async () => {
    api.jobScript.set('j4', [job('j4', 'running', 0.5, { blocksChecked: 50 }), job('j4', 'succeeded', 1)]);
    const r = await run(['job', 'watch', 'j4', '--interval', '0.01'], { stderrTTY: true });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('50% running blocksChecked=50');
    expect(r.err).toContain('100% succeeded');
    expect(r.out).toContain('job j4 scrub: succeeded');
    expect(r.out).not.toContain('running');
  });

  it('watch rides out an API restart and a 503, then gives up after --retry-for', async () => {
    api.jobScript.set('j5', [job('j5', 'running', 0.1), job('j5', 'running', 0.6), job('j5', 'succeeded', 1)]);
    let polls = 0;
    api.intercept = (req) => {
      if (req.path !== '/api/v1/jobs/j5') return undefined;
      polls++;
      if (polls === 2) {
        // The API goes away after this answer and comes back on the same port.
        setTimeout(() => void api.stop().then(() => new Promise((r) => setTimeout(r, 100))).then(() => api.start(port)), 0);
        return undefined;
      }
      return polls === 3 ? problem(503, 'Service Unavailable', 'starting') : undefined;
    };
    const r = await run(['job', 'watch', 'j5', '--interval', '0.02']);
    expect(r.code, r.err).toBe(0);
    // Refused while the API was down, then a 503 as it came back, then answers again.
    expect(r.out).toMatch(/job j5: cannot reach the API at .*connection refused.*; retrying for up to 60 s/);
    expect(polls).toBe(4);
    expect(r.out).toContain('the API answers again');
    expect(r.out).toContain('job j5 scrub: succeeded');

    await api.stop();
    const gone = await run(['job', 'watch', 'j5', '--interval', '0.02', '--retry-for', '0.2']);
    expect(gone.code).toBe(ExitCode.Unreachable);
    expect(gone.err).toContain('cannot reach the API');
  });

  it('watch of an unknown job is exit 3', async () => {
    const r = await run(['job', 'watch', 'nope']);
    expect(r.code).toBe(ExitCode.NotFound);
    expect(r.err).toBe('ferry: Not Found (404): job nope not found\n');
  });

  it('list and cancel', async () => {
    const f = api.addFilesystem('data', GiB);
    api.jobs.push({ ...job('j6', 'running', 0.3), params: { filesystemId: f.id, fsid: f.fsid } }, job('j7', 'succeeded', 1), job('j8', 'queued', 0));
    const l = await run(['job', 'list']);
    expect(l.code).toBe(0);
    expect(l.out).toMatch(/^ID\s+TYPE\s+STATE\s+PROGRESS\s+FILESYSTEM\s+CREATED\s+ERROR$/m);
    expect(l.out).toMatch(/^j6\s+scrub\s+running\s+30%\s+data\s+-\s+-$/m);
    // A job whose filesystem is gone names it by its engine id.
    expect(l.out).toMatch(/^j7\s+scrub\s+succeeded\s+100%\s+fsid 7\s+-\s+-$/m);
    expect(l.out.trimEnd().split('\n')).toHaveLength(4);
    const running = await run(['job', 'list', '--state', 'running', '--json']);
    expect(sent('GET', '/jobs').pop()?.query).toEqual({ state: 'running', limit: '2', offset: '0' });
    expect((JSON.parse(running.out) as { items: JobDoc[] }).items.map((j) => j.id)).toEqual(['j6']);
    expect((await run(['job', 'list', '--state', 'done'])).code).toBe(ExitCode.Usage);
    const c = await run(['job', 'cancel', 'j6']);
    expect(c.code, c.err).toBe(0);
    expect(c.out).toBe('job j6: cancel requested (state cancelled)\n');
    const ended = await run(['job', 'cancel', 'j7']);
    expect(ended.code).toBe(ExitCode.Failed);
    expect(ended.err).toContain('Conflict (409): job j7 has ended (succeeded)');
  });
});

describe('offline storage commands', () => {
  it('pool import and fsck still run without the API and refuse what is not a pool', async () => {
    const dev = join(tmp, 'not-a-pool.img');
    writeFileSync(dev, Buffer.alloc(1 << 20));
    const imp = await run(['pool', 'import', dev], { env: {} });
    expect(imp.code).toBe(ExitCode.Failed);
    expect(imp.err).toMatch(/^ferry: .+\n$/);
    const fsck = await run(['fsck', '--data-dir', join(tmp, 'none'), '--fsid', 'x'], { env: {} });
    expect(fsck.code).toBe(ExitCode.Usage);
    expect(fsck.err).toContain('--fsid x: a decimal filesystem id is required');
    expect(api.requests).toHaveLength(0);
  });
});

describe('connection and authentication', () => {
  it('without a token the API answers 401: exit 4 with a hint naming the token file', async () => {
    const r = await run(['fs', 'list'], { env: { FERRY_URL: url } });
    expect(r.code).toBe(ExitCode.Auth);
    expect(r.err).toContain('Unauthorized (401): a bearer token is required');
    expect(r.err).toContain(join(tmp, 'data', 'admin-token'));
    expect(api.requests[0]?.authorization).toBeUndefined();
  });

  it('the token comes from --token, else FERRY_TOKEN, else $FERRY_DATA_DIR/admin-token, else ./data/admin-token', async () => {
    const dataDir = join(tmp, 'dd');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'admin-token'), `${ADMIN}\n`, { mode: 0o600 });
    mkdirSync(join(tmp, 'data'));
    writeFileSync(join(tmp, 'data', 'admin-token'), READER, { mode: 0o600 });
    const auth = () => api.requests[api.requests.length - 1]?.authorization;

    expect((await run(['status'], { env: { FERRY_URL: url, FERRY_DATA_DIR: dataDir } })).code).toBe(0);
    expect(auth()).toBe(`Bearer ${ADMIN}`);
    expect((await run(['status'], { env: { FERRY_URL: url } })).code).toBe(0);
    expect(auth()).toBe(`Bearer ${READER}`);
    expect((await run(['status'], { env: { FERRY_URL: url, FERRY_TOKEN: READER, FERRY_DATA_DIR: dataDir } })).code).toBe(0);
    expect(auth()).toBe(`Bearer ${READER}`);
    expect((await run(['--token', ADMIN, 'status'], { env: { FERRY_URL: url, FERRY_TOKEN: READER } })).code).toBe(0);
    expect(auth()).toBe(`Bearer ${ADMIN}`);
  });

  it('a refused token is exit 4 and a read-only token may not change anything (403, exit 4)', async () => {
    const bad = await run(['status'], { env: { FERRY_URL: url, FERRY_TOKEN: 'ferry_wrong' } });
    expect(bad.code).toBe(ExitCode.Auth);
    expect(bad.err).toContain('the token from FERRY_TOKEN was refused');
    api.addFilesystem('data', GiB);
    const ro = await run(['fs', 'grow', 'data', '--size', '2G'], { env: { FERRY_URL: url, FERRY_TOKEN: READER } });
    expect(ro.code).toBe(ExitCode.Auth);
    expect(ro.err).toBe('ferry: Forbidden (403): this change needs an admin token\n');
    expect((await run(['fs', 'list'], { env: { FERRY_URL: url, FERRY_TOKEN: READER } })).code).toBe(0);
  });

  it('--url overrides FERRY_URL and may carry the /api/v1 prefix; a bad URL is a usage error', async () => {
    expect((await run(['--url', `${url}/api/v1/`, 'status'], { env: { FERRY_URL: 'http://127.0.0.1:9', FERRY_TOKEN: ADMIN } })).code).toBe(0);
    expect(api.requests[0]?.path).toBe('/api/v1/status');
    expect((await run(['--url', 'not a url', 'status'])).code).toBe(ExitCode.Usage);
    expect((await run(['--url', 'ftp://127.0.0.1', 'status'])).code).toBe(ExitCode.Usage);
  });

  it('an API that cannot be reached is exit 5 with one line', async () => {
    const closed = await freePort();
    const r = await run(['fs', 'list'], { env: { FERRY_URL: `http://127.0.0.1:${closed}`, FERRY_TOKEN: ADMIN } });
    expect(r.code).toBe(ExitCode.Unreachable);
    expect(r.err).toBe(`ferry: cannot reach the API at http://127.0.0.1:${closed}: connection refused (ECONNREFUSED) (set --url or FERRY_URL)\n`);
  });

  it('an API that does not answer in --timeout is exit 5', async () => {
    const silent: Server = createServer(() => undefined);
    const p = await freePort();
    await new Promise<void>((r) => silent.listen(p, '127.0.0.1', () => r()));
    try {
      const t0 = Date.now();
      const r = await run(['--timeout', '0.3', 'status'], { env: { FERRY_URL: `http://127.0.0.1:${p}`, FERRY_TOKEN: ADMIN } });
      expect(r.code).toBe(ExitCode.Unreachable);
      expect(r.err).toBe(`ferry: cannot reach the API at http://127.0.0.1:${p}: no answer within 0.3 s\n`);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it('a server error is exit 1, with the problem detail or the plain body', async () => {
    api.intercept = () => problem(500, 'Internal Server Error', 'database is down');
    const r = await run(['status']);
    expect(r.code).toBe(ExitCode.Failed);
    expect(r.err).toBe('ferry: Internal Server Error (500): database is down\n');
    api.intercept = () => ({ status: 502, body: 'Bad Gateway', type: 'text/plain' });
    const p = await run(['status']);
    expect(p.code).toBe(ExitCode.Failed);
    expect(p.err).toBe('ferry: GET /api/v1/status: HTTP 502: Bad Gateway\n');
  });

  it('help and usage: --help is 0 and lists the exit codes; unknown commands and flags are 2', async () => {
    const h = await run(['--help']);
    expect(h.code).toBe(0);
    expect(h.out).toContain('5  cannot reach the API');
    const sub = await run(['job', 'watch', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.out).toContain('Exits 0 when the job succeeds');
    expect(sub.out).toContain('4  authentication or authorization');
    expect((await run(['frobnicate'])).code).toBe(ExitCode.Usage);
    expect((await run(['fs', 'list', '--bogus'])).code).toBe(ExitCode.Usage);
    expect((await run([])).code).toBe(ExitCode.Usage);
    expect(api.requests).toHaveLength(0);
  });
});
