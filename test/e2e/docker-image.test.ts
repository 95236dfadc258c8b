// Goal: the image docker/Dockerfile describes builds, and what it runs works: the embedded start
// serves a mountable export that a real NFS client writes and reads back, the image's health
// check turns healthy, `docker stop` ends it cleanly (exit 0, after "stopped cleanly"), the data
// survives a restart of the container on its volume, and the CLI runs from the same image.
// Method: a real Docker daemon (.ci/run starts one), `docker build` of the repository with
// BuildKit, the container on the host's network on free high ports, libnfs's nfs-cp as the
// client. The image's base and the docker client: test/support/docker.ts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFerryImage, docker, DOCKER, nodeBaseImage, requireDockerDaemon } from '../support/docker';
import { REPO } from '../support/paths';
import { freePort } from '../support/ports';
import { runAsync, type RunResult } from '../support/run';

const tag = `ferry-test/ferry:${randomBytes(4).toString('hex')}`;
const name = `ferry-image-test-${randomBytes(4).toString('hex')}`;
const volume = `${name}-data`;

/** Runs a command from the repository root to its end (see runAsync). */
const run = (cmd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> => runAsync(cmd, args, env, REPO);

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

let nfsPort = 0;
let httpPort = 0;
let work = '';
const url = (path: string): string => `nfs://127.0.0.1/export${path}?version=3&nfsport=${nfsPort}&mountport=${nfsPort}`;
/** Waits for /readyz; a container that exited meanwhile fails at once, with its log. */
async function ready(): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if ((await docker('inspect', '--format', '{{.State.Running}}', name)) !== 'true') {
      const logs = await run(DOCKER, ['logs', '--tail', '30', name]);
      throw new Error(`the container exited before it was ready:\n${logs.out}${logs.err}`);
    }
    const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error('the container did not answer /readyz within 120 s');
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  requireDockerDaemon();
  await buildFerryImage(tag, await nodeBaseImage());
  nfsPort = await freePort();
  do httpPort = await freePort();
  while (httpPort === nfsPort);
  work = mkdtempSync(join(tmpdir(), 'ferry-image-'));
}, 900_000);

afterAll(async () => {
  await run(DOCKER, ['rm', '-f', name]);
  await run(DOCKER, ['volume', 'rm', '-f', volume]);
  await run(DOCKER, ['rmi', '-f', tag]);
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('the Ferry image', () => {
  it('serves the embedded start, stops cleanly, and keeps its data on the volume across a restart', async () => {
    await docker(
      'run', '-d', '--name', name, '--network', 'host', '-v', `${volume}:/data`,
      '-e', `FERRY_NFS_PORT=${nfsPort}`, '-e', `FERRY_HTTP_PORT=${httpPort}`, '-e', 'FERRY_PORTMAP_PORT=0',
      '-e', 'FERRY_BIND_ADDRESS=127.0.0.1', '-e', 'FERRY_POOL_SIZE=2G',
      tag, 'embedded',
    ); // prettier-ignore
    await ready();
    expect(await docker('exec', name, 'id', '-un')).toBe('node'); // not root

    const input = join(work, 'in.bin');
    const content = randomBytes(3 * 1024 * 1024 + 123);
    writeFileSync(input, content);
    const put = await run('nfs-cp', [input, url('/image-test.bin')]);
    expect(put.status, put.err).toBe(0);
    const back = join(work, 'back.bin');
    const get = await run('nfs-cp', [url('/image-test.bin'), back]);
    expect(get.status, get.err).toBe(0);
    expect(readFileSync(back).equals(content)).toBe(true);

    // The image's HEALTHCHECK (every 10 s) asks /healthz.
    await until('docker reports the container healthy', 60_000, async () =>
      (await docker('inspect', '--format', '{{.State.Health.Status}}', name)) === 'healthy' ? true : undefined,
    );

    await docker('stop', '--time', '60', name);
    expect(await docker('inspect', '--format', '{{.State.ExitCode}}', name)).toBe('0');
    expect((await run(DOCKER, ['logs', name])).out).toContain('stopped cleanly');

    await docker('start', name);
    await ready();
    const again = join(work, 'again.bin');
    const reread = await run('nfs-cp', [url('/image-test.bin'), again]);
    expect(reread.status, reread.err).toBe(0);
    expect(readFileSync(again).equals(content)).toBe(true);
  });

  it('runs the CLI and lists its commands when asked for help', async () => {
    const cli = await run(DOCKER, ['run', '--rm', '--network', 'host', tag, 'cli', '--help']);
    expect(cli.status, cli.err).toBe(0);
    expect(cli.out).toMatch(/Usage: ferry/);
    const help = await run(DOCKER, ['run', '--rm', tag, 'help']);
    expect(help.status, help.err).toBe(0);
    expect(help.out).toContain('data-mover-bare');
  });
});
