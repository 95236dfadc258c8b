// Goal: the control plane drives what NFS clients see, end to end, on the embedded start (admin
// API, jobs and one mover in one process, embedded PostgreSQL): a filesystem and an export made
// with the `ferry` CLI are mounted by the Linux kernel client; narrowing the export through the
// REST API refuses that live mount's very next calls with EACCES (no restart), the refusal is in
// the server log and the change in the audit log; widening it again lets clients back in; and
// after a SIGTERM stop and a start on the same data directory the filesystem, the export and the
// files are all still there.
// Method: the built embedded process (FERRY_MAIN) on free ports, the built CLI as a child process
// (exit codes, --json parsed), scripts/control-plane-narrow.sh in the nfsvm VM with the narrowing
// done host-side when the script prints NARROW-NOW, and libnfs (nfs-ls, nfs-cp) from the host.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoverProcess } from '../support/mover-process';
import { CLI_MAIN, FERRY_MAIN } from '../support/paths';
import { runNfsvm } from '../support/nfsvm-run';

const GiB = 1024 ** 3;
/** Seed files the VM writes through the mount: a few MiB, sizes not multiples of a page. */
const SEEDS = [
  { name: 'alpha.bin', size: 4 * 1024 * 1024 + 123 },
  { name: 'beta.bin', size: 1024 * 1024 + 4097 },
  { name: 'gamma.bin', size: 2 * 1024 * 1024 + 1 },
];
/** How long the guest polls for the refusal after NARROW-NOW (the contract: within one second). */
const REFUSAL_WAIT_S = 20;
/** How long the host polls for the widened export to admit it again. */
const WIDEN_WAIT_MS = 10_000;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface ExportItem {
  id: string;
  path: string;
  clients: string[];
  access: string;
  rootSquash: boolean;
  secure: boolean;
  filesystem: { name: string; fsid: number };
}

interface FsItem {
  name: string;
  fsid: number;
  state: string;
  sizeBytes: number;
  usage?: { sizeBytes: number; usedBytes: number; freeBytes: number; files: number };
}

interface AuditItem {
  action: string;
  target: string;
  status: number;
  actor: string;
  detail: Record<string, unknown>;
}

describe('control plane with the kernel client (embedded start, CLI, REST, nfsvm)', () => {
  let m: MoverProcess;
  const work = mkdtempSync(join(tmpdir(), 'ferry-cp-'));
  const seeds = SEEDS.map((s) => {
    const data = randomBytes(s.size);
    const path = join(work, s.name);
    writeFileSync(path, data);
    return { ...s, path, md5: createHash('md5').update(data).digest('hex') };
  });
  let exportId = '';
  const diag = (): string => `\n--- server log ---\n${m.logTail(60)}`;

  const cli = (...args: string[]): CliResult => {
    const env: NodeJS.ProcessEnv = { ...process.env, FERRY_URL: m.apiUrl, FERRY_DATA_DIR: m.dataDir };
    delete env.FERRY_TOKEN; // the token comes from $FERRY_DATA_DIR/admin-token
    const r = spawnSync(process.execPath, [CLI_MAIN, ...args], { encoding: 'utf8', env, timeout: 120_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const show = (r: CliResult): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}${diag()}`;
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${m.apiUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${m.adminToken()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const nfsUrl = (path: string): string => m.url(path);
  const nfsLs = (): ReturnType<typeof spawnSync> =>
    spawnSync('nfs-ls', [nfsUrl('/projects')], { encoding: 'utf8', timeout: 30_000 });
  /** The server log as JSON records (pino lines), non-JSON lines skipped. */
  const logRecords = (): Array<Record<string, unknown>> =>
    readFileSync(m.logPath, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    m = await MoverProcess.start({ entry: FERRY_MAIN });
  });
  afterAll(async () => {
    if (m) await m.stop();
  });

  it('creates and exports a filesystem with the CLI; refuses a duplicate and deleting it while exported', () => {
    const create = cli('fs', 'create', 'projects', '--size', '2G', '--wait');
    expect(create.code, show(create)).toBe(0);
    expect(create.stdout).toMatch(/succeeded/);

    const dup = cli('fs', 'create', 'projects', '--size', '2G');
    expect(dup.code, show(dup)).toBe(1);
    expect(dup.stderr).toMatch(/filesystem named "projects" exists/);

    const add = cli('--json', 'export', 'add', '/projects', '--fs', 'projects', '--clients', '127.0.0.1', '--insecure', '--no-root-squash');
    expect(add.code, show(add)).toBe(0);
    const added = JSON.parse(add.stdout) as ExportItem;
    expect(added).toMatchObject({ path: '/projects', clients: ['127.0.0.1'], access: 'rw', rootSquash: false, secure: false });
    expect(added.filesystem.name).toBe('projects');
    exportId = added.id;

    const exports = cli('--json', 'export', 'list');
    expect(exports.code, show(exports)).toBe(0);
    const ex = (JSON.parse(exports.stdout) as { items: ExportItem[] }).items.find((e) => e.path === '/projects');
    expect(ex, exports.stdout).toMatchObject({ id: exportId, clients: ['127.0.0.1'] });
    const exportsTable = cli('export', 'list');
    expect(exportsTable.code, show(exportsTable)).toBe(0);
    expect(exportsTable.stdout).toMatch(/^\/projects\s+projects\s+rw\s+127\.0\.0\.1\s/m);

    const fsList = cli('--json', 'fs', 'list');
    expect(fsList.code, show(fsList)).toBe(0);
    const fs = (JSON.parse(fsList.stdout) as { items: FsItem[] }).items.find((f) => f.name === 'projects');
    expect(fs, fsList.stdout).toMatchObject({ state: 'ready', sizeBytes: 2 * GiB });
    expect(fs?.usage?.sizeBytes).toBe(2 * GiB);
    expect(fs?.usage?.freeBytes).toBeGreaterThan(0);
    expect(fs?.usage?.freeBytes).toBeLessThanOrEqual(2 * GiB);
    const fsTable = cli('fs', 'list');
    expect(fsTable.code, show(fsTable)).toBe(0);
    expect(fsTable.stdout).toMatch(/^NAME\s+FSID\s+STATE\s+SIZE\s+USED\s+FREE\s+FILES/m);
    expect(fsTable.stdout).toMatch(/^projects\s+\d+\s+ready\s+2\.00 GiB\s+\S+ \S+\s+\S+ \S+\s+\d+/m);

    const del = cli('fs', 'delete', 'projects', '--yes');
    expect(del.code, show(del)).toBe(1);
    expect(del.stderr).toMatch(/export/);
    expect(cli('--json', 'fs', 'list').stdout, 'the refused delete left it in place').toMatch(/"name": "projects"/);
  });

  it('a live kernel mount is refused (EACCES) right after the export is narrowed through the API', async () => {
    expect(exportId, 'needs the export of the first step').not.toBe('');
    const pidBefore = m.pid;
    const script = resolve(__dirname, 'scripts/control-plane-narrow.sh');
    const args = ['run', '-q', '--port', String(m.nfsPort), '--mount-port', String(m.nfsPort), '--export', '/projects', '--timeout', '180'];
    for (const s of seeds) args.push('--with-file', `${s.path}:/tmp/${s.name}`);
    args.push(script, String(REFUSAL_WAIT_S));
    for (const s of seeds) args.push(`/tmp/${s.name}`, s.md5);

    let narrowedAt = 0;
    let narrowFailure: unknown;
    const hostNotes: string[] = [];
    const run = await runNfsvm(args, (line) => {
      if (line !== 'NARROW-NOW') return;
      void api('PATCH', `/exports/${exportId}`, { clients: ['10.99.99.99'] })
        .then((r) => {
          narrowedAt = Date.now();
          if (r.status !== 200) narrowFailure = new Error(`PATCH answered ${r.status}: ${JSON.stringify(r.json)}`);
          else hostNotes.push(`[host] narrowed: ${JSON.stringify((r.json as ExportItem).clients)}`);
        })
        .catch((err: unknown) => (narrowFailure = err));
    });
    const out = [...run.lines, ...hostNotes];
    const code = run.code;
    const text = out.join('\n');
    process.stdout.write(`${out.filter((l) => /^(ok|FAIL|ALL-OK|NARROW-NOW|\[host\])/.test(l)).join('\n')}\n`);
    if (narrowFailure) throw narrowFailure;
    expect(narrowedAt, 'the script never asked for the narrowing').toBeGreaterThan(0);
    expect(text, `${text}${diag()}`).toContain('ALL-OK');
    expect(code).toBe(0);
    expect(text).not.toMatch(/^FAIL/m);
    expect(text).toMatch(/^ok wrote and read back 3 files$/m);
    expect(text).toMatch(/^ok refused: lookup answers EACCES/m);
    expect(text).toMatch(/^ok refused: read of alpha\.bin answers EACCES$/m);
    expect(text).toMatch(/^ok refused: ls of a directory answers EACCES$/m);

    // No restart happened: the same process served both sides of the change.
    expect(m.pid).toBe(pidBefore);
    expect(m.child?.exitCode).toBeNull();

    // The server logged the refusal of 127.0.0.1 on /projects.
    const refusals = logRecords().filter((r) => r.msg === 'client refused by export rules' && r.export === '/projects');
    expect(refusals, diag()).not.toHaveLength(0);
    expect(refusals[0]).toMatchObject({ client: '127.0.0.1', why: 'address not allowed' });
    const lag = Date.parse(String(refusals[0]?.time)) - narrowedAt;
    process.stdout.write(`first refused call logged ${lag} ms after the PATCH answered\n`);
    expect(lag, 'refused within the guest poll window').toBeLessThan(REFUSAL_WAIT_S * 1000);

    // The audit log lists the change, with who made it and the new clients.
    const audit = await api('GET', '/audit?limit=50');
    expect(audit.status).toBe(200);
    const items = (audit.json as { items: AuditItem[] }).items;
    const change = items.find((a) => a.target === '/projects' && a.action.startsWith('export.') && a.action !== 'export.create');
    expect(change, JSON.stringify(items, null, 1)).toBeDefined();
    expect(change).toMatchObject({ actor: 'admin', status: 200 });
    expect(JSON.stringify(change?.detail)).toContain('10.99.99.99');
    expect(items.some((a) => a.action === 'export.create' && a.target === '/projects')).toBe(true);
  });

  it('widening the export with the CLI lets a libnfs client list /projects again', async () => {
    expect(nfsLs().status, 'still narrowed: the host (127.0.0.1) is refused too').not.toBe(0);
    const set = cli('--json', 'export', 'set', '/projects', '--clients', '127.0.0.1');
    expect(set.code, show(set)).toBe(0);
    expect((JSON.parse(set.stdout) as ExportItem).clients).toEqual(['127.0.0.1']);
    const t0 = Date.now();
    let ls = nfsLs();
    while (ls.status !== 0 && Date.now() - t0 < WIDEN_WAIT_MS) {
      await new Promise((r) => setTimeout(r, 100));
      ls = nfsLs();
    }
    const lsText = String(ls.stdout);
    expect(ls.status, `nfs-ls still fails ${Date.now() - t0} ms after widening: ${String(ls.stderr)}${diag()}`).toBe(0);
    process.stdout.write(`widened export admitted libnfs after ${Date.now() - t0} ms\n`);
    for (const s of seeds) expect(lsText).toMatch(new RegExp(`\\s${s.size}\\s.*\\b${s.name.replace('.', '\\.')}$`, 'm'));
    expect(lsText).toMatch(/\bdir$/m);
  });

  it('survives a SIGTERM stop and a start on the same data directory', async () => {
    expect(await m.stop()).toBe(0);
    await m.spawn(); // same data directory and ports

    const fsList = cli('--json', 'fs', 'list');
    expect(fsList.code, show(fsList)).toBe(0);
    const fs = (JSON.parse(fsList.stdout) as { items: FsItem[] }).items.find((f) => f.name === 'projects');
    expect(fs, fsList.stdout).toMatchObject({ state: 'ready', sizeBytes: 2 * GiB });
    const total = seeds.reduce((n, s) => n + s.size, 0);
    expect(fs?.usage?.files).toBeGreaterThanOrEqual(seeds.length + 3); // root, dir, dir/file, seeds
    expect(fs?.usage?.usedBytes).toBeGreaterThanOrEqual(total);

    const exports = cli('--json', 'export', 'list');
    expect(exports.code, show(exports)).toBe(0);
    const ex = (JSON.parse(exports.stdout) as { items: ExportItem[] }).items.find((e) => e.path === '/projects');
    expect(ex, exports.stdout).toMatchObject({ id: exportId, clients: ['127.0.0.1'], rootSquash: false, secure: false });

    for (const s of seeds) {
      const local = join(work, `${s.name}.back`);
      const cp = spawnSync('nfs-cp', [nfsUrl(`/projects/${s.name}`), local], { encoding: 'utf8', timeout: 60_000 });
      expect(cp.status, `nfs-cp ${s.name}: ${cp.stderr}${diag()}`).toBe(0);
      expect(createHash('md5').update(readFileSync(local)).digest('hex'), s.name).toBe(s.md5);
    }
    const audit = await api('GET', '/audit?limit=50');
    expect((audit.json as { items: AuditItem[] }).items.some((a) => a.action === 'export.create' && a.target === '/projects')).toBe(true);
  });
});
