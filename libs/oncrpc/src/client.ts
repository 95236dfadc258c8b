/**
 * A small ONC RPC client, for tests and for talking to a system rpcbind (RFC 5531).
 *
 * Invariants: each call gets a fresh xid (sequential from a random start, so restarts do not
 * reuse recent ones); a reply is matched to its call by xid alone and a reply for an unknown
 * xid is ignored; every pending call is settled exactly once: by its reply, its timeout or
 * the loss of the connection.
 */
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { XdrError, XdrReader, XdrWriter } from '@ferry/xdr';
import { AcceptStat, AuthStat, DEFAULT_MAX_RECORD_BYTES, RejectStat } from './constants';
import { CRED_NONE, decodeReplyHeader, encodeCallHeader, type VersionRange } from './message';
import type { Credential } from './program';
import { RecordReader } from './record-reader';
import { beginRecord, endRecord } from './record-writer';

/** The server accepted the call but did not run it (RFC 5531 §9 accept_stat other than SUCCESS). */
export class RpcAcceptedError extends Error {
  constructor(
    readonly stat: AcceptStat,
    readonly mismatch?: VersionRange,
  ) {
    super(`rpc call not executed: ${AcceptStat[stat] ?? stat}${mismatch ? ` (versions ${mismatch.low}..${mismatch.high})` : ''}`);
    this.name = 'RpcAcceptedError';
  }
}

/** The server denied the call (RFC 5531 §9 MSG_DENIED): RPC_MISMATCH or AUTH_ERROR. */
export class RpcDeniedError extends Error {
  constructor(
    readonly stat: RejectStat,
    readonly authStat?: AuthStat,
    readonly mismatch?: VersionRange,
  ) {
    super(
      stat === RejectStat.AUTH_ERROR
        ? `rpc call denied: AUTH_ERROR ${AuthStat[authStat ?? -1] ?? authStat}`
        : `rpc call denied: RPC_MISMATCH (${mismatch?.low}..${mismatch?.high})`,
    );
    this.name = 'RpcDeniedError';
  }
}

export class RpcTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`rpc call timed out after ${timeoutMs} ms`);
    this.name = 'RpcTimeoutError';
  }
}

export class RpcConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpcConnectionError';
  }
}

export interface RpcResult {
  /** Positioned at the first byte of the procedure's results. */
  reader: XdrReader;
}

export interface RpcClientOptions {
  maxRecordBytes?: number;
  /** First xid; random by default. */
  xidStart?: number;
  /** Per-call timeout; none by default. */
  timeoutMs?: number;
}

export interface UdpCallOptions {
  timeoutMs: number;
  cred?: Credential;
  /** Resend the call at this interval until the timeout (default: timeoutMs / 3). */
  retransmitMs?: number;
  xid?: number;
}

type WriteArgs = (w: XdrWriter) => void;

interface Pending {
  resolve(r: RpcResult): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout | undefined;
}

function randomXid(): number {
  return randomBytes(4).readUInt32BE(0);
}

/** Turn a decoded reply into a result or the typed error it stands for. */
function settleReply(r: XdrReader): { xid: number; result?: RpcResult; error?: Error } {
  const h = decodeReplyHeader(r);
  if (h.kind === 'denied') {
    if (h.stat === RejectStat.AUTH_ERROR) return { xid: h.xid, error: new RpcDeniedError(h.stat, h.authStat) };
    return { xid: h.xid, error: new RpcDeniedError(h.stat, undefined, h.mismatch) };
  }
  if (h.stat !== AcceptStat.SUCCESS) return { xid: h.xid, error: new RpcAcceptedError(h.stat, h.mismatch) };
  return { xid: h.xid, result: { reader: r } };
}

export class RpcClient {
  private readonly pending = new Map<number, Pending>();
  private readonly reader: RecordReader;
  private nextXid: number;
  private closedError: Error | undefined;
  private corked = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly opts: RpcClientOptions,
  ) {
    this.reader = new RecordReader(opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES);
    this.nextXid = opts.xidStart ?? randomXid();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new RpcConnectionError(`rpc connection error: ${err.message}`)));
    socket.on('close', () => this.fail(new RpcConnectionError('rpc connection closed')));
  }

  static connectTcp(host: string, port: number, opts: RpcClientOptions = {}): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RpcClient(socket, opts));
      });
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  call(prog: number, vers: number, proc: number, writeArgs: WriteArgs = () => {}, cred: Credential = CRED_NONE): Promise<RpcResult> {
    if (this.closedError) return Promise.reject(this.closedError);
    const xid = this.nextXid;
    this.nextXid = (this.nextXid + 1) >>> 0;
    const w = new XdrWriter(256);
    const markAt = beginRecord(w);
    encodeCallHeader(w, { xid, prog, vers, proc, cred });
    writeArgs(w);
    const record = endRecord(w, markAt);
    return new Promise<RpcResult>((resolve, reject) => {
      const p: Pending = { resolve, reject, timer: undefined };
      const timeoutMs = this.opts.timeoutMs;
      if (timeoutMs !== undefined) {
        p.timer = setTimeout(() => {
          this.pending.delete(xid);
          reject(new RpcTimeoutError(timeoutMs));
        }, timeoutMs);
      }
      this.pending.set(xid, p);
      // Calls issued in the same turn leave in one writev (TCP_NODELAY is on).
      if (!this.corked) {
        this.corked = true;
        this.socket.cork();
        process.nextTick(() => {
          this.corked = false;
          this.socket.uncork();
        });
      }
      this.socket.write(record);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  private onData(chunk: Buffer): void {
    this.reader.push(chunk);
    for (;;) {
      let record: Buffer | undefined;
      try {
        record = this.reader.next();
      } catch (err) {
        this.socket.destroy();
        this.fail(new RpcConnectionError((err as Error).message));
        return;
      }
      if (record === undefined) return;
      let settled;
      try {
        settled = settleReply(new XdrReader(record));
      } catch (err) {
        if (err instanceof XdrError) continue; // not a reply we can read: no call to settle
        throw err;
      }
      const p = this.pending.get(settled.xid);
      if (p === undefined) continue;
      this.pending.delete(settled.xid);
      if (p.timer) clearTimeout(p.timer);
      if (settled.error) p.reject(settled.error);
      else p.resolve(settled.result!);
    }
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    for (const [xid, p] of this.pending) {
      this.pending.delete(xid);
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
  }

  /** One call over UDP, retransmitted until a reply with its xid arrives or the timeout. */
  static callUdp(
    host: string,
    port: number,
    prog: number,
    vers: number,
    proc: number,
    writeArgs: WriteArgs,
    opts: UdpCallOptions,
  ): Promise<RpcResult> {
    const xid = opts.xid ?? randomXid();
    const w = new XdrWriter(256);
    encodeCallHeader(w, { xid, prog, vers, proc, cred: opts.cred ?? CRED_NONE });
    writeArgs(w);
    const message = w.bytes();
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    return new Promise<RpcResult>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | undefined, result?: RpcResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timeout);
        clearInterval(resend);
        socket.close();
        if (err) reject(err);
        else resolve(result!);
      };
      const send = (): void => socket.send(message, port, host, (err) => err && finish(new RpcConnectionError(err.message)));
      const timeout = setTimeout(() => finish(new RpcTimeoutError(opts.timeoutMs)), opts.timeoutMs);
      const resend = setInterval(send, Math.max(1, opts.retransmitMs ?? opts.timeoutMs / 3));
      socket.on('error', (err) => finish(new RpcConnectionError(err.message)));
      socket.on('message', (msg) => {
        let settled;
        try {
          settled = settleReply(new XdrReader(msg));
        } catch {
          return; // a stray datagram
        }
        if (settled.xid !== xid) return;
        finish(settled.error, settled.result);
      });
      send();
    });
  }
}
