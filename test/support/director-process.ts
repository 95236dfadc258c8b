/**
 * Starts the built load director as a real child process for end-to-end tests (static route
 * table, free high ports, /readyz awaited), and a raw MOUNT client that can pick its source
 * address (all of 127/8 is loopback) and prepend a PROXY v2 header, for export-rule and
 * forged-header checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import { AuthFlavor, encodeCallHeader, encodeProxyV2, frameRecord, RecordReader } from '@ferry/oncrpc';
import { DIST } from './paths';
import { freePort } from './ports';

export const DIRECTOR_MAIN = resolve(DIST, 'apps/load-director/src/main.js');

export class DirectorProcess {
  child?: ChildProcess;
  nfsPort = 0;
  httpPort = 0;
  readonly logPath: string;
  private exited?: Promise<number | null>;

  private constructor(private readonly env: Record<string, string>) {
    this.logPath = join(mkdtempSync(join(tmpdir(), 'ferry-director-')), 'director.log');
  }

  static async start(routes: string, env: Record<string, string> = {}): Promise<DirectorProcess> {
    if (!existsSync(DIRECTOR_MAIN)) throw new Error(`${DIRECTOR_MAIN} missing: run "npm run build" first (or set FERRY_DIST)`);
    const d = new DirectorProcess({ FERRY_DIRECTOR_ROUTES: routes, ...env });
    d.nfsPort = await freePort();
    d.httpPort = await freePort();
    await d.spawn();
    return d;
  }

  async spawn(): Promise<void> {
    const log = createWriteStream(this.logPath, { flags: 'a' });
    await new Promise((r) => log.once('open', r));
    const child = spawn(process.execPath, [DIRECTOR_MAIN], {
      env: {
        ...process.env,
        FERRY_NFS_PORT: String(this.nfsPort),
        FERRY_HTTP_PORT: String(this.httpPort),
        FERRY_PORTMAP_PORT: '0',
        FERRY_BIND_ADDRESS: '127.0.0.1',
        FERRY_LOG_LEVEL: 'info',
        DATABASE_URL: '',
        ...this.env,
      },
      stdio: ['ignore', log, log],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`director exited during start; log:\n${this.logTail()}`);
      try {
        if ((await fetch(`http://127.0.0.1:${this.httpPort}/readyz`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`director not ready; log:\n${this.logTail()}`);
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async metrics(): Promise<Record<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${this.httpPort}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const line of text.split('\n')) {
      const m = /^(ferry_director_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
      if (m) out[m[1]!] = Number(m[2]);
    }
    return out;
  }

  /** SIGTERM; resolves with the exit code. */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exited!;
    clearTimeout(t);
    return code;
  }

  url(path: string): string {
    return `nfs://127.0.0.1${path}?version=3&nfsport=${this.nfsPort}&mountport=${this.nfsPort}`;
  }
}

export type MountOutcome = { kind: 'status'; status: number } | { kind: 'closed' };

/**
 * One MOUNT v3 MNT of `path` on 127.0.0.1:`port` from `localAddress`, optionally preceded by a
 * PROXY v2 header claiming `proxySource`: the mountstat3, or 'closed' if the server hung up.
 */
export function rawMount(port: number, path: string, opts: { localAddress?: string; proxySource?: string; timeoutMs?: number } = {}): Promise<MountOutcome> {
  const w = new XdrWriter(128);
  encodeCallHeader(w, {
    xid: 0x5eed,
    prog: 100005,
    vers: 3,
    proc: 1,
    cred: { flavor: AuthFlavor.AUTH_SYS, sys: { stamp: 1, machinename: 'e2e', uid: 0, gid: 0, gids: [] } },
  });
  w.string(path);
  const parts = [frameRecord(w.bytes())];
  if (opts.proxySource !== undefined) {
    parts.unshift(encodeProxyV2({ family: 'IPv4', sourceAddress: opts.proxySource, sourcePort: 700, destinationAddress: '127.0.0.1', destinationPort: port }));
  }
  return new Promise((resolvePromise, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
    const reader = new RecordReader(1 << 20);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`MNT ${path}: no answer`));
    }, opts.timeoutMs ?? 10_000);
    socket.on('connect', () => socket.write(Buffer.concat(parts)));
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      const rec = reader.next();
      if (!rec) return;
      clearTimeout(timer);
      const r = new XdrReader(rec);
      r.uint(); // xid
      r.uint(); // REPLY
      if (r.uint() !== 0) return reject(new Error('MNT denied at the RPC level'));
      r.uint();
      r.skipFixedOpaque(r.uint());
      if (r.uint() !== 0) return reject(new Error('MNT not accepted'));
      socket.destroy();
      resolvePromise({ kind: 'status', status: r.uint() });
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolvePromise({ kind: 'closed' });
    });
  });
}
