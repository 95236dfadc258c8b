/**
 * Starts the built data mover as a real child process for end-to-end tests: its own data
 * directory and free high ports, waits for /readyz, and stops it with SIGTERM (or SIGKILL for
 * crash tests). Logs go to a file in the data directory for post-mortems. A data directory it
 * made itself is removed after the test file by the e2e setup (FERRY_KEEP_POOL=1 keeps it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MOVER_MAIN } from './paths';
import { freePort } from './ports';

export interface MoverOptions {
  dataDir?: string;
  nfsPort?: number;
  httpPort?: number;
  env?: Record<string, string>;
  /** The program: the bare data mover (default) or the embedded start (FERRY_MAIN). */
  entry?: string;
  /** Run as this user and group (a root test run trying an ordinary user); the data directory is given to it. */
  user?: { uid: number; gid: number };
}

/** Data directories made here, removed by removeMadeDataDirs (test/support/e2e-setup.ts runs it after each e2e file). */
const madeDirs = new Set<string>();
export function removeMadeDataDirs(): void {
  if (process.env.FERRY_KEEP_POOL === '1') return;
  for (const d of madeDirs) rmSync(d, { recursive: true, force: true });
  madeDirs.clear();
}

export class MoverProcess {
  child?: ChildProcess;
  readonly dataDir: string;
  nfsPort = 0;
  httpPort = 0;
  private exited?: Promise<number | null>;

  private constructor(
    dataDir: string,
    private readonly opts: MoverOptions,
  ) {
    this.dataDir = dataDir;
  }

  static async start(opts: MoverOptions = {}): Promise<MoverProcess> {
    const entry = opts.entry ?? MOVER_MAIN;
    if (!existsSync(entry)) throw new Error(`${entry} missing: run "npm run build" first`);
    const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'ferry-e2e-'));
    if (opts.dataDir === undefined) madeDirs.add(dataDir);
    mkdirSync(dataDir, { recursive: true });
    if (opts.user) chownSync(dataDir, opts.user.uid, opts.user.gid);
    const m = new MoverProcess(dataDir, opts);
    m.nfsPort = opts.nfsPort ?? (await freePort());
    m.httpPort = opts.httpPort ?? (await freePort());
    await m.spawn();
    return m;
  }

  get pid(): number {
    if (!this.child?.pid) throw new Error('not running');
    return this.child.pid;
  }

  get logPath(): string {
    return join(this.dataDir, 'mover.log');
  }

  async spawn(): Promise<void> {
    const log = createWriteStream(this.logPath, { flags: 'a' });
    await new Promise((r) => log.once('open', r));
    const child = spawn(process.execPath, [this.opts.entry ?? MOVER_MAIN], {
      env: {
        ...process.env,
        FERRY_DATA_DIR: this.dataDir,
        FERRY_NFS_PORT: String(this.nfsPort),
        FERRY_HTTP_PORT: String(this.httpPort),
        FERRY_PORTMAP_PORT: '0',
        FERRY_BIND_ADDRESS: '127.0.0.1',
        FERRY_POOL_SIZE: '8G',
        FERRY_LOG_LEVEL: 'info',
        ...this.opts.env,
      },
      stdio: ['ignore', log, log],
      ...(this.opts.user ? { uid: this.opts.user.uid, gid: this.opts.user.gid } : {}),
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await this.waitReady(60_000);
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited?.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`mover exited during start; log:\n${this.logTail()}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.httpPort}/readyz`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`mover not ready after ${timeoutMs} ms; log:\n${this.logTail()}`);
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Graceful stop: SIGTERM, then the exit code (0 when in-flight work and flush completed). */
  async stop(timeoutMs = 60_000): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exited!;
    clearTimeout(t);
    return code;
  }

  async kill9(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.spawn();
  }

  /** Resident set size in KiB from /proc (VmRSS) and the peak (VmHWM). */
  memory(): { rssKiB: number; peakKiB: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const get = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
    return { rssKiB: get('VmRSS'), peakKiB: get('VmHWM') };
  }

  /** The first admin token of the embedded start (written at its first start). */
  adminToken(): string {
    return readFileSync(join(this.dataDir, 'admin-token'), 'utf8').trim();
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  url(path = '/export'): string {
    return `nfs://127.0.0.1${path}?version=3&nfsport=${this.nfsPort}&mountport=${this.nfsPort}`;
  }
}
