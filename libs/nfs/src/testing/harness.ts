/**
 * Test plumbing for libs/nfs: a service over MemoryFileSystem, fake RpcCalls built with
 * XdrWriter, and typed calls that run a handler and decode its reply (never served).
 */
import { AuthFlavor, type ClientAddress, type Credential, type RpcCall, type RpcProgram } from '@ferry/oncrpc';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import type { ExportConfig } from '../exports';
import type { Nfs3Procedure } from '../nfs3/procedure';
import { NfsService } from '../nfs-service';
import { MemoryFileSystem } from './memory-fs';

export const FSID = 7n;
export const KEY = Buffer.alloc(32, 0x5a);

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  o: object;
  msg: string | undefined;
}

export function sys(uid: number, gid: number, gids: number[] = []): Credential {
  return { flavor: AuthFlavor.AUTH_SYS, sys: { stamp: 1, machinename: 'client', uid, gid, gids } };
}

export const ROOT = sys(0, 0);
export const NONE: Credential = { flavor: AuthFlavor.AUTH_NONE };

export interface CallOptions {
  cred?: Credential;
  xid?: number;
  address?: string;
  port?: number;
}

export function defaultExport(over: Partial<ExportConfig> = {}): ExportConfig {
  return {
    path: '/fs',
    fsid: FSID,
    clients: ['*'],
    access: 'rw',
    rootSquash: false,
    allSquash: false,
    anonUid: 65534,
    anonGid: 65534,
    secure: false,
    ...over,
  };
}

let nextXid = 1000;

export function makeCall(prog: RpcProgram, proc: number, args: Buffer, opts: CallOptions = {}): RpcCall {
  const address = opts.address ?? '10.0.0.5';
  const client: ClientAddress = { address, port: opts.port ?? 800, family: address.includes(':') ? 'IPv6' : 'IPv4', transport: 'tcp' };
  return {
    xid: opts.xid ?? nextXid++,
    prog: prog.prog,
    vers: (prog.versions[0] as { vers: number }).vers,
    proc,
    cred: opts.cred ?? ROOT,
    args: new XdrReader(args),
    client,
    connectionId: 1,
  };
}

/** Runs one procedure of a program on raw argument bytes; returns the reply body. */
export async function rawCall(prog: RpcProgram, proc: number, args: Buffer, opts: CallOptions = {}): Promise<Buffer> {
  const handler = prog.versions[0]?.procedures[proc];
  if (handler === undefined) throw new Error(`no procedure ${proc}`);
  const reply = new XdrWriter();
  await handler(makeCall(prog, proc, args, opts), reply);
  return Buffer.from(reply.bytes());
}

export class Harness {
  clockMs = 1_700_000_000_000;
  readonly logs: LogLine[] = [];
  readonly bytes = { read: 0, written: 0 };
  readonly fs: MemoryFileSystem;
  readonly service: NfsService;
  readonly mount: RpcProgram;
  readonly nfs: RpcProgram;

  constructor(exports: ExportConfig[] = [defaultExport()], opts: { maxIoBytes?: number; refreshExports?: () => Promise<void>; exportRefreshWaitMs?: number } = {}) {
    const clock = (): number => (this.clockMs += 1000);
    this.fs = new MemoryFileSystem({ fsid: FSID, clock });
    const log = (level: LogLine['level']) => (o: object, msg?: string) => void this.logs.push({ level, o, msg });
    this.service = new NfsService({
      filesystems: new Map([[FSID, this.fs]]),
      exports,
      handleKey: KEY,
      logger: { info: log('info'), warn: log('warn'), error: log('error') },
      stats: { bytesRead: (n) => void (this.bytes.read += n), bytesWritten: (n) => void (this.bytes.written += n) },
      clock,
      maxIoBytes: opts.maxIoBytes,
      refreshExports: opts.refreshExports,
      exportRefreshWaitMs: opts.exportRefreshWaitMs,
    });
    const [mount, nfs] = this.service.programs();
    this.mount = mount as RpcProgram;
    this.nfs = nfs as RpcProgram;
  }

  get root(): Buffer {
    return this.service.rootHandle(FSID) as Buffer;
  }

  async call<A, R>(spec: Nfs3Procedure<A, R>, args: A, opts: CallOptions = {}): Promise<R> {
    const w = new XdrWriter();
    spec.encodeArgs(w, args);
    const reply = await rawCall(this.nfs, spec.proc, Buffer.from(w.bytes()), opts);
    const r = new XdrReader(reply);
    const res = spec.decodeRes(r);
    r.expectEnd();
    return res;
  }

  engineCalls(method: string): number {
    return this.fs.calls.get(method) ?? 0;
  }
}
