// Goal: docker/compose.yaml brings up the documented local cluster (PostgreSQL, Redis,
// init-secrets, admin-api, two movers, a director), and the steps of docs/deployment.md work
// against it: the admin token from the keys volume, `ferry status` sees both movers healthy, a
// filesystem is created and exported to the compose subnet, and a real NFS client writes and
// reads back a file through the director's published port.
// Method: a real Docker daemon (.ci/run starts one) and compose (`docker compose`, else Debian's
// docker-compose 1.x, which predates the file's top-level `name:` and gets -p instead); the
// image built from docker/Dockerfile (test/support/docker.ts); the host's built CLI and libnfs's
// nfs-cp. This machine reaches no container registry, so PostgreSQL and Redis are stand-ins built
// from Debian packages (docker/test-stand-ins) unless FERRY_TEST_POSTGRES_IMAGE and
// FERRY_TEST_REDIS_IMAGE name real ones.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFerryImage, DOCKER, must as mustIn, nodeBaseImage, requireDockerDaemon } from '../support/docker';
import { CLI_MAIN, REPO } from '../support/paths';
import { freePort } from '../support/ports';
import { runAsync, type RunResult } from '../support/run';

const id = randomBytes(4).toString('hex');
const project = `ferrycompose${id}`;
const images = { ferry: `ferry-test/ferry:compose-${id}`, postgres: `ferry-test/postgres:16-${id}`, redis: `ferry-test/redis:7-${id}` };
const work = mkdtempSync(join(tmpdir(), 'ferry-compose-'));
const env: Record<string, string> = {};
let compose: string[] = [];

const run = (cmd: string, args: string[], extra: Record<string, string> = {}): Promise<RunResult> =>
  runAsync(cmd, args, { DOCKER_BUILDKIT: '1', ...env, ...extra }, REPO);

/** `must` (test/support/docker.ts) with this test's compose settings in the environment. */
const must = (cmd: string, args: string[], extra: Record<string, string> = {}): Promise<string> => mustIn(cmd, args, { DOCKER_BUILDKIT: '1', ...env, ...extra });

const dc = (...args: string[]): Promise<string> => must(compose[0]!, [...compose.slice(1), ...args]);

/** The compose command: `docker compose` (v2) when present, else docker-compose 1.x on a copy without `name:`. */
function composeCommand(): string[] {
  const file = join(REPO, 'docker/compose.yaml');
  if (spawnSync(DOCKER, ['compose', 'version'], { encoding: 'utf8' }).status === 0) return [DOCKER, 'compose', '-p', project, '-f', file];
  if (spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status !== 0) throw new Error('neither `docker compose` nor docker-compose is installed (.ci/run installs docker-compose)');
  const v1 = join(work, 'compose.yaml');
  writeFileSync(v1, readFileSync(file, 'utf8').replace(/^name: .*\n/m, ''));
  return ['docker-compose', '-p', project, '-f', v1, '--project-directory', join(REPO, 'docker')];
}

beforeAll(async () => {
  requireDockerDaemon();
  compose = composeCommand();
  const base = await nodeBaseImage();
  await buildFerryImage(images.ferry, base);
  const standIns = join(REPO, 'docker/test-stand-ins');
  const postgres = process.env.FERRY_TEST_POSTGRES_IMAGE ?? images.postgres;
  const redis = process.env.FERRY_TEST_REDIS_IMAGE ?? images.redis;
  if (!process.env.FERRY_TEST_POSTGRES_IMAGE)
    await must(DOCKER, ['build', '--network', 'host', '--build-arg', `BASE=${base}`, '-f', join(standIns, 'postgres.Dockerfile'), '-t', postgres, standIns]);
  if (!process.env.FERRY_TEST_REDIS_IMAGE)
    await must(DOCKER, ['build', '--network', 'host', '--build-arg', `BASE=${base}`, '-f', join(standIns, 'redis.Dockerfile'), '-t', redis, standIns]);
  const ports = new Set<number>();
  while (ports.size < 4) ports.add(await freePort());
  const [nfs, portmap, api, directorHttp] = [...ports];
  Object.assign(env, {
    FERRY_IMAGE: images.ferry,
    FERRY_POSTGRES_IMAGE: postgres,
    FERRY_REDIS_IMAGE: redis,
    FERRY_NFS_HOST_PORT: String(nfs),
    FERRY_PORTMAP_HOST_PORT: String(portmap),
    FERRY_API_HOST_PORT: String(api),
    FERRY_DIRECTOR_HTTP_HOST_PORT: String(directorHttp),
    FERRY_POOL_SIZE: '2G',
  });
}, 900_000);

afterAll(async () => {
  if (compose.length > 0) await run(compose[0]!, [...compose.slice(1), 'down', '-v', '--timeout', '30']);
  for (const image of Object.values(images)) await run(DOCKER, ['rmi', '-f', image]);
  rmSync(work, { recursive: true, force: true });
}, 180_000);

describe('docker/compose.yaml', () => {
  it('brings up the cluster, and a client writes and reads a file through the director', async () => {
    await dc('up', '-d');
    const deadline = Date.now() + 180_000;
    for (;;) {
      const ids = (await dc('ps', '-q')).split('\n').filter(Boolean);
      const states = await Promise.all(ids.map((c) => must(DOCKER, ['inspect', '--format', '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}', c])));
      // Every service healthy, but init-secrets, which has done its work and exited.
      const done = (s: string): boolean => {
        const [name, status, health] = s.split(' ');
        return name!.includes('init-secrets') ? status === 'exited' : status === 'running' && health === 'healthy';
      };
      if (states.length === 7 && states.every(done)) break;
      if (Date.now() > deadline) throw new Error(`services not healthy in 180 s: ${states.join('; ')}`);
      await new Promise((r) => setTimeout(r, 1000));
    }

    const token = await dc('exec', '-T', 'admin-api', 'cat', '/keys/admin-token');
    expect(token).toMatch(/^ferry_/);
    const cli = (...args: string[]): Promise<string> =>
      must(process.execPath, [CLI_MAIN, ...args], { FERRY_URL: `http://127.0.0.1:${env.FERRY_API_HOST_PORT}`, FERRY_TOKEN: token });
    const status = await cli('status');
    expect(status).toMatch(/movers:\s+2 \(2 healthy\)/);
    await cli('fs', 'create', 'projects', '--size', '1G', '--wait');
    // Through Docker's port forwarding the client's address is the network's gateway and its
    // port one of the proxy's: export to the subnet, from any port (docs/deployment.md).
    await cli('export', 'add', '/projects', '--fs', 'projects', '--clients', '172.29.0.0/24', '--insecure');

    const url = `nfs://127.0.0.1/projects/compose.bin?version=3&nfsport=${env.FERRY_NFS_HOST_PORT}&mountport=${env.FERRY_NFS_HOST_PORT}`;
    const content = randomBytes(2 * 1024 * 1024 + 5);
    writeFileSync(join(work, 'in.bin'), content);
    // The export reaches the movers and the director's routes by events: retry the first mount briefly.
    const put = await (async () => {
      for (let i = 0; ; i++) {
        const r = await run('nfs-cp', [join(work, 'in.bin'), url]);
        if (r.status === 0 || i === 20) return r;
        await new Promise((res) => setTimeout(res, 500));
      }
    })();
    expect(put.status, put.err).toBe(0);
    const get = await run('nfs-cp', [url, join(work, 'back.bin')]);
    expect(get.status, get.err).toBe(0);
    expect(readFileSync(join(work, 'back.bin')).equals(content)).toBe(true);
  });
});
