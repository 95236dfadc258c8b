/**
 * A Ferry cluster of real processes on one machine for end-to-end tests (docs/cluster.md): a
 * fresh database on the machine's PostgreSQL, the machine's Redis,
 * the cluster admin-api, N data movers sharing one pool file, and a load director. Every process
 * gets free high ports and its own log file; each can be stopped (SIGTERM), killed (SIGKILL),
 * paused (SIGSTOP) and resumed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../../libs/control/src/testing/test-database';
import { DIST } from './paths';
import { freePort } from './ports';

export const ADMIN_CLUSTER_MAIN = resolve(DIST, 'apps/admin-api/src/cluster-main.js');
export const MOVER_CLUSTER_MAIN = resolve(DIST, 'apps/data-mover/src/cluster-main.js');
export const DIRECTOR_MAIN = resolve(DIST, 'apps/load-director/src/main.js');

export class NodeProcess {
  child?: ChildProcess;
  private exited?: Promise<number | null>;
  constructor(
    readonly name: string,
    readonly entry: string,
    readonly env: Record<string, string>,
    readonly httpPort: number,
    readonly logPath: string,
  ) {}

  async start(readyPath = '/readyz', timeoutMs = 60_000): Promise<void> {
    const log = createWriteStream(this.logPath, { flags: 'a' });
    await new Promise((r) => log.once('open', r));
    const child = spawn(process.execPath, [this.entry], { env: { ...process.env, ...this.env, FERRY_HTTP_PORT: String(this.httpPort) }, stdio: ['ignore', log, log] });
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + timeoutMs;
    let gone = false;
    void this.exited.then(() => (gone = true));
    while (Date.now() < deadline) {
      if (gone) throw new Error(`${this.name} exited during start; log:\n${this.logTail()}`);
      try {
        if ((await fetch(`http://127.0.0.1:${this.httpPort}${readyPath}`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name} not ready after ${timeoutMs} ms; log:\n${this.logTail()}`);
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(timeoutMs = 60_000): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child!.kill('SIGCONT');
    this.child!.kill('SIGTERM');
    const t = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exited!;
    clearTimeout(t);
    return code;
  }

  async kill9(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

export interface LeaseRow {
  fsid: string;
  assigned: string | null;
  owner: string | null;
  epoch: string;
  serving: boolean;
}

export class Cluster {
  readonly movers = new Map<string, NodeProcess>();
  admin!: NodeProcess;
  director!: NodeProcess;
  directorPort = 0;
  token = '';
  private constructor(
    readonly dir: string,
    readonly db: TestDatabase,
    readonly common: Record<string, string>,
  ) {}

  static async start(opts: { movers: number; leaseMs?: number; env?: Record<string, string> }): Promise<Cluster> {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cluster-'));
    const db = await createTestDatabase('ferry_cluster');
    const common: Record<string, string> = {
      DATABASE_URL: db.url,
      REDIS_URL: 'redis://127.0.0.1:6379',
      // Its own namespace in the shared Redis: jobs and events of other runs never reach it.
      FERRY_REDIS_PREFIX: `ferry-test-${Math.random().toString(36).slice(2, 10)}`,
      FERRY_POOL_DEVICES: join(dir, 'pool', 'dev0'),
      FERRY_POOL_SIZE: '8G',
      FERRY_HANDLE_KEY_FILE: join(dir, 'keys', 'handle.key'),
      FERRY_PORTMAP_PORT: '0',
      FERRY_BIND_ADDRESS: '127.0.0.1',
      FERRY_LEASE_MS: String(opts.leaseMs ?? 3000),
      FERRY_LOG_LEVEL: 'info',
      ...opts.env,
    };
    const c = new Cluster(dir, db, common);
    try {
      await c.boot(opts.movers);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private async boot(movers: number): Promise<void> {
    const { dir, common } = this;
    this.admin = new NodeProcess('admin-api', ADMIN_CLUSTER_MAIN, { ...common, FERRY_DATA_DIR: join(dir, 'admin') }, await freePort(), join(dir, 'admin.log'));
    await this.admin.start();
    this.token = readFileSync(join(dir, 'admin', 'admin-token'), 'utf8').trim();
    for (let i = 1; i <= movers; i++) await this.addMover(`m${i}`);
    this.directorPort = await freePort();
    this.director = new NodeProcess(
      'director',
      DIRECTOR_MAIN,
      { ...common, FERRY_NFS_PORT: String(this.directorPort), FERRY_HOLD_MS: '20000' },
      await freePort(),
      join(dir, 'director.log'),
    );
    await this.director.start();
  }

  async addMover(name: string): Promise<NodeProcess> {
    const nfsPort = await freePort();
    const m = new NodeProcess(
      name,
      MOVER_CLUSTER_MAIN,
      { ...this.common, FERRY_MOVER_NAME: name, FERRY_ADVERTISE_ADDRESS: '127.0.0.1', FERRY_NFS_PORT: String(nfsPort), FERRY_DIRECTOR_NETWORKS: '127.0.0.1/32' },
      await freePort(),
      join(this.dir, `${name}.log`),
    );
    this.movers.set(name, m);
    await m.start();
    return m;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.admin.httpPort}/api/v1`;
  }

  async api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Creates a filesystem (waiting for its format job) and exports it to 127.0.0.0/8. */
  async createExportedFilesystem(name: string, sizeBytes = 2 * 1024 ** 3): Promise<{ fsid: string; path: string }> {
    const created = await this.api('POST', '/filesystems', { name, sizeBytes });
    const jobId = created.job.id as string;
    for (let i = 0; i < 600; i++) {
      const job = await this.api('GET', `/jobs/${jobId}`);
      if (job.state === 'succeeded') break;
      if (job.state === 'failed' || job.state === 'cancelled') throw new Error(`format of ${name}: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const path = `/${name}`;
    await this.api('POST', '/exports', { filesystemId: created.filesystem.id, path, clients: ['127.0.0.0/8'], access: 'rw', rootSquash: false, secure: false });
    return { fsid: String(created.filesystem.fsid), path };
  }

  async leases(): Promise<LeaseRow[]> {
    const { Client } = await import('pg');
    const c = new Client({ connectionString: this.db.url });
    await c.connect();
    try {
      const r = await c.query(
        `SELECT l.fsid::text AS fsid, a.name AS assigned, o.name AS owner, l.epoch::text AS epoch, l.serving
         FROM fs_leases l LEFT JOIN movers a ON a.id = l.assigned_mover_id LEFT JOIN movers o ON o.id = l.owner_mover_id ORDER BY l.fsid`,
      );
      return r.rows as LeaseRow[];
    } finally {
      await c.end();
    }
  }

  /** Waits until every filesystem is served by its assigned mover and `pred` holds. */
  async waitSettled(pred: (rows: LeaseRow[]) => boolean = () => true, timeoutMs = 60_000): Promise<LeaseRow[]> {
    const deadline = Date.now() + timeoutMs;
    let rows: LeaseRow[] = [];
    while (Date.now() < deadline) {
      rows = await this.leases();
      if (rows.length > 0 && rows.every((r) => r.serving && r.owner !== null && r.owner === r.assigned) && pred(rows)) return rows;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`cluster did not settle: ${JSON.stringify(rows)}`);
  }

  /**
   * Stops every process and drops the database. The pool file (hundreds of MB after a busy
   * test) is removed unless FERRY_KEEP_POOL=1; the logs stay in `dir`.
   */
  async stop(): Promise<void> {
    await this.director?.stop().catch(() => undefined);
    await Promise.all([...this.movers.values()].map((m) => m.stop().catch(() => undefined)));
    await this.admin?.stop().catch(() => undefined);
    await this.db.drop().catch(() => undefined);
    if (process.env.FERRY_KEEP_POOL !== '1') await rm(join(this.dir, 'pool'), { recursive: true, force: true });
  }
}
