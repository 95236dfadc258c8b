// Goal: what the image runs does what docs/deployment.md says: the entrypoint starts the app a
// command names (and fails clearly otherwise), init-secrets makes the compose cluster's handle key
// and admin token once and never replaces them, the mover-drain preStop hook drains a mover
// through the real admin API, and docker/compose.yaml describes the documented cluster.
// Method: the scripts run for real against the built tree (FERRY_DIST) and, for mover-drain, the
// embedded start on a fresh database of the machine's PostgreSQL; the compose file is parsed
// (js-yaml, with compose's ${VAR:-default} interpolation) and its wiring checked here, without a
// Docker daemon; the image and the cluster themselves are built and run by
// test/e2e/docker-image.test.ts and test/e2e/compose.test.ts (docs/deployment.md).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORE_SCHEMA, load, mergeTag } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../libs/control/src/testing/test-database';
import { MoverProcess } from '../support/mover-process';
import { CLI_MAIN, DIST, FERRY_MAIN, REPO } from '../support/paths';
import { freePort } from '../support/ports';
import { runAsync } from '../support/run';

const ENTRYPOINT = join(REPO, 'docker/entrypoint.sh');
const TOKEN_PATTERN = /^ferry_[A-Za-z0-9_-]{43}$/;

interface Result {
  status: number;
  out: string;
  err: string;
}

function runSync(cmd: string, args: string[], env: Record<string, string> = {}): Result {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('docker/entrypoint.sh', () => {
  it('runs the app a command names from FERRY_DIST, and lists the commands otherwise', () => {
    const cli = runSync('sh', [ENTRYPOINT, 'cli', '--help'], { FERRY_DIST: DIST });
    expect(cli.status, `${CLI_MAIN}: ${cli.err}`).toBe(0);
    expect(cli.out).toMatch(/Usage: ferry/);
    const none = runSync('sh', [ENTRYPOINT]);
    expect(none.status).toBe(2);
    expect(none.err).toMatch(/no command given/);
    for (const app of ['admin-api', 'embedded', 'data-mover', 'load-director', 'cli', 'init-secrets', 'mover-drain']) expect(none.err).toContain(`  ${app} `);
    const unknown = runSync('sh', [ENTRYPOINT, 'no-such-app']);
    expect(unknown.status).toBe(2);
    expect(unknown.err).toMatch(/unknown command 'no-such-app'/);
    const missing = runSync('sh', [ENTRYPOINT, 'load-director'], { FERRY_DIST: '/nonexistent/dist' });
    expect(missing.status).toBe(127);
    expect(missing.err).toMatch(/\/nonexistent\/dist\/apps\/load-director\/src\/main\.js is missing/);
  });

  it('maps each app to the entry point of the cluster contract', () => {
    const text = readFileSync(ENTRYPOINT, 'utf8');
    const entries: Record<string, string> = {
      'admin-api': 'apps/admin-api/src/cluster-main.js',
      embedded: 'apps/admin-api/src/main.js',
      'data-mover': 'apps/data-mover/src/cluster-main.js',
      'data-mover-bare': 'apps/data-mover/src/main.js',
      'load-director': 'apps/load-director/src/main.js',
    };
    for (const [app, entry] of Object.entries(entries)) expect(text).toMatch(new RegExp(`^\\s+${app}\\) run_node ${entry.replace(/\./g, '\\.')} "\\$@" ;;$`, 'm'));
  });
});

describe('init-secrets', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-keys-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a 32-byte handle key and an admin token once, mode 0600, and keeps them', () => {
    const keys = join(dir, 'keys');
    const first = runSync('sh', [ENTRYPOINT, 'init-secrets'], { FERRY_KEYS_DIR: keys });
    expect(first.status, first.err).toBe(0);
    expect(first.out).toMatch(/handle\.key created/);
    const key = readFileSync(join(keys, 'handle.key'));
    const token = readFileSync(join(keys, 'admin-token'), 'utf8');
    expect(key).toHaveLength(32);
    expect(token.trim()).toMatch(TOKEN_PATTERN);
    expect(statSync(join(keys, 'handle.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(keys, 'admin-token')).mode & 0o777).toBe(0o600);
    const again = runSync('sh', [ENTRYPOINT, 'init-secrets'], { FERRY_KEYS_DIR: keys });
    expect(again.status).toBe(0);
    expect(again.out).toMatch(/handle\.key already there, kept/);
    expect(readFileSync(join(keys, 'handle.key')).equals(key)).toBe(true);
    expect(readFileSync(join(keys, 'admin-token'), 'utf8')).toBe(token);
  });

  it('refuses a malformed key with exit 1 and leaves it untouched', () => {
    const keys = join(dir, 'bad');
    runSync('mkdir', ['-p', keys]);
    writeFileSync(join(keys, 'handle.key'), 'short');
    const r = runSync('sh', [ENTRYPOINT, 'init-secrets'], { FERRY_KEYS_DIR: keys });
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/handle\.key must be 32 bytes, has 5; left untouched/);
    expect(readFileSync(join(keys, 'handle.key'), 'utf8')).toBe('short');
    expect(readFileSync(join(keys, 'admin-token'), 'utf8').trim()).toMatch(TOKEN_PATTERN); // the other one is still made
  });
});

describe('mover-drain against the admin API of the embedded start', () => {
  let db: TestDatabase;
  let ferry: MoverProcess;
  let token: string;
  let url: string;
  const drain = (args: string[], env: Record<string, string>) =>
    runAsync('sh', [ENTRYPOINT, 'mover-drain', ...args], { FERRY_URL: url, FERRY_TOKEN: '', FERRY_TOKEN_FILE: '', FERRY_DRAIN_POLL_MS: '200', ...env });

  beforeAll(async () => {
    db = await createTestDatabase('ferry_drain');
    ferry = await MoverProcess.start({ entry: FERRY_MAIN, env: { DATABASE_URL: db.url, FERRY_POOL_SIZE: '2G', FERRY_MOVER_NAME: 'drain-me' } });
    token = readFileSync(join(ferry.dataDir, 'admin-token'), 'utf8').trim();
    url = `http://127.0.0.1:${ferry.httpPort}`;
  });

  afterAll(async () => {
    if (ferry) await ferry.stop();
    await db?.drop();
  });

  const moverState = async (): Promise<string> => {
    const r = await fetch(`${url}/api/v1/movers`, { headers: { authorization: `Bearer ${token}` } });
    const page = (await r.json()) as { items: Array<{ name: string; state: string }> };
    return page.items.find((m) => m.name === 'drain-me')?.state ?? 'absent';
  };

  it('refuses without a token (2) and with a wrong one (1), draining nothing', async () => {
    const none = await drain(['drain-me'], {});
    expect(none.status).toBe(2);
    expect(none.err).toMatch(/no API token/);
    const wrong = await drain(['drain-me'], { FERRY_TOKEN: `ferry_${'x'.repeat(43)}`, FERRY_DRAIN_TIMEOUT_S: '5' });
    expect(wrong.status).toBe(1);
    expect(wrong.err).toMatch(/refused the token \(HTTP 401\)/);
    expect(await moverState()).toBe('active');
  });

  it('has nothing to do for a mover that never registered', async () => {
    const r = await drain(['no-such-mover'], { FERRY_TOKEN: token });
    expect(r.status, r.err).toBe(0);
    expect(r.out).toMatch(/no mover named no-such-mover is registered/);
  });

  it('marks the mover draining and waits for drained until its deadline (token from a file)', async () => {
    const tokenFile = join(ferry.dataDir, 'admin-token');
    const r = await drain([], { FERRY_MOVER_NAME: 'drain-me', FERRY_TOKEN_FILE: tokenFile, FERRY_DRAIN_TIMEOUT_S: '3' });
    const state = await moverState();
    expect(['draining', 'drained']).toContain(state);
    expect(r.out).toMatch(/drain-me \([0-9a-f-]{36}\) is (draining|drained)/);
    // The embedded start has no peer to move filesystems to: either its controller marks the
    // mover drained at once (exit 0), or the hook reports the deadline with what is still owned (exit 1).
    if (state === 'drained') expect(r.status, r.err).toBe(0);
    else {
      expect(r.status).toBe(1);
      expect(r.err).toMatch(/drain-me still draining after 3 s, owning /);
    }
    // Asking again does not post a second drain; it only waits.
    const again = await drain(['drain-me', '--no-wait'], { FERRY_TOKEN: token });
    expect(again.status, again.err).toBe(0);
    expect(again.out).toMatch(new RegExp(`drain-me \\([0-9a-f-]{36}\\) is ${state}`));
  });

  it('gives up at the deadline when the API cannot be reached', async () => {
    const closed = await freePort(); // nothing listens there
    const r = await drain(['drain-me'], { FERRY_TOKEN: token, FERRY_URL: `http://127.0.0.1:${closed}`, FERRY_DRAIN_TIMEOUT_S: '1' });
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/list movers: gave up at the deadline \(last: ECONNREFUSED\)/);
  });
});

// --- docker/compose.yaml ---

interface ComposeService {
  image?: string;
  command?: string[];
  hostname?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
  healthcheck?: { test: string[] };
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
  networks: Record<string, { ipam?: { config?: Array<{ subnet: string }> } }>;
}

/** Compose's interpolation with no variables set: ${VAR:-default} gives the default, ${VAR} nothing. */
function interpolate(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, _name: string, dflt?: string) => dflt ?? '');
  if (Array.isArray(v)) return v.map(interpolate);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x)]));
  return v;
}

function ipInCidr(ip: string, cidr: string): boolean {
  const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(ip) / size) === Math.floor(n(base!) / size);
}

describe('docker/compose.yaml', () => {
  const file = join(REPO, 'docker/compose.yaml');
  const compose = interpolate(load(readFileSync(file, 'utf8'), { schema: CORE_SCHEMA.withTags(mergeTag) })) as Compose;
  const s = compose.services;

  it('has the documented services, each started by a command the entrypoint knows', () => {
    expect(Object.keys(s).sort()).toEqual(['admin-api', 'director', 'init-secrets', 'mover-1', 'mover-2', 'postgres', 'redis']);
    const entry = readFileSync(ENTRYPOINT, 'utf8');
    for (const [name, svc] of Object.entries(s)) {
      if (name === 'postgres' || name === 'redis') continue;
      expect(svc.image, name).toBe('ferry:0.1.0');
      expect(entry, name).toMatch(new RegExp(`^\\s+${svc.command![0]}[ )|]`, 'm'));
    }
    expect(s['admin-api']!.command).toEqual(['admin-api']);
    expect(s['mover-1']!.command).toEqual(['data-mover']);
    expect(s['director']!.command).toEqual(['load-director']);
    for (const [name, svc] of Object.entries(s)) for (const dep of Object.keys(svc.depends_on ?? {})) expect(Object.keys(s), `${name} depends on ${dep}`).toContain(dep);
  });

  it('publishes ports on the loopback address only', () => {
    const published = Object.values(s).flatMap((svc) => svc.ports ?? []);
    expect(published.length).toBeGreaterThanOrEqual(4);
    for (const p of published) expect(p).toMatch(/^127\.0\.0\.1:\d+:\d+\/(tcp|udp)$/);
    expect(s['director']!.ports).toEqual(['127.0.0.1:2049:2049/tcp', '127.0.0.1:111:111/tcp', '127.0.0.1:111:111/udp', '127.0.0.1:8050:8049/tcp']);
    expect(s['admin-api']!.ports).toEqual(['127.0.0.1:8049:8049/tcp']);
  });

  it('gives the admin API and both movers one pool and one key volume with the same paths', () => {
    const cluster = ['admin-api', 'mover-1', 'mover-2'].map((n) => s[n]!);
    for (const svc of cluster) {
      const e = svc.environment!;
      for (const k of ['DATABASE_URL', 'REDIS_URL', 'FERRY_POOL_DEVICES', 'FERRY_HANDLE_KEY_FILE']) expect(e[k], k).toBeTruthy();
      expect(svc.volumes).toEqual(['pool:/pool', 'keys:/keys:ro']);
      expect(e.FERRY_POOL_DEVICES).toBe(cluster[0]!.environment!.FERRY_POOL_DEVICES);
      for (const dev of e.FERRY_POOL_DEVICES!.split(',')) expect(dev).toMatch(/^\/pool\/[^/]+$/);
      expect(e.FERRY_HANDLE_KEY_FILE).toBe('/keys/handle.key');
    }
    expect(s['init-secrets']!.volumes).toEqual(['keys:/keys']);
    expect(s['init-secrets']!.environment!.FERRY_KEYS_DIR).toBe('/keys');
    expect(s['admin-api']!.depends_on).toMatchObject({ 'init-secrets': { condition: 'service_completed_successfully' } });
    const used = new Set(Object.values(s).flatMap((svc) => (svc.volumes ?? []).map((v) => v.split(':')[0]!)));
    expect([...used].sort()).toEqual(Object.keys(compose.volumes).sort());
  });

  it('names and addresses each mover, and trusts PROXY headers from the director alone', () => {
    const director = s['director']!;
    const networks = director.networks as Record<string, { ipv4_address: string }>;
    const address = networks.ferry!.ipv4_address;
    const subnet = compose.networks.ferry!.ipam!.config![0]!.subnet;
    expect(ipInCidr(address, subnet)).toBe(true);
    expect(director.environment!.FERRY_PORTMAP_PORT).toBe('111');
    for (const name of ['mover-1', 'mover-2']) {
      const e = s[name]!.environment!;
      expect(e.FERRY_MOVER_NAME).toBe(name);
      expect(e.FERRY_ADVERTISE_ADDRESS).toBe(name); // the service's DNS name on the compose network
      expect(s[name]!.hostname).toBe(name);
      expect(e.FERRY_DIRECTOR_NETWORKS).toBe(`${address}/32`);
      expect(e.FERRY_PORTMAP_PORT).toBe('0');
      expect(s[name]!.depends_on).toMatchObject({ 'admin-api': { condition: 'service_healthy' } });
    }
  });
});
