/**
 * Transport-independent call dispatch (RFC 5531 §9): one message in, one reply (or nothing) out.
 *
 * Every RPC-level error reply is made here and nowhere else: RPC_MISMATCH and AUTH_ERROR from
 * the header, PROG_UNAVAIL / PROG_MISMATCH / PROC_UNAVAIL from the program table, and
 * GARBAGE_ARGS / SYSTEM_ERR / AUTH_ERROR from what a handler throws. A handler's partial
 * output is discarded before an error reply is written, so a reply never mixes the two.
 */
import { XdrError, XdrReader } from '@ferry/xdr';
import { AcceptStat, ACCEPT_STAT_OFFSET } from './constants';
import {
  type CredentialCache,
  decodeCall,
  encodeAcceptedReply,
  encodeAuthError,
  encodeProgMismatch,
  encodeRpcMismatch,
} from './message';
import {
  AuthRejectError,
  GarbageArgsError,
  NoReplyError,
  type ClientAddress,
  type ProcedureHandler,
  type RpcCall,
  type RpcObserver,
  type RpcProgram,
} from './program';
import { beginRecord, endRecord, endRecordPieces } from './record-writer';
import { type ReplyPieces, RpcReplyWriter } from './reply-writer';

/**
 * The outcome of one message: reply bytes, a message to drop as garbage, or deliberate silence.
 * A framed reply whose handler spliced a buffer (a READ's data) comes as pieces to write in
 * order; an unframed one is always a single buffer.
 */
export type DispatchResult = Buffer | ReplyPieces | 'garbage' | 'silent';

export interface Clock {
  /** Monotonic nanoseconds, used only to time calls for the observer. */
  nowNs(): bigint;
}

export interface RpcLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export const NOOP_LOGGER: RpcLogger = { info() {}, warn() {}, error() {} };
export const HRTIME_CLOCK: Clock = { nowNs: () => process.hrtime.bigint() };

interface ProgramEntry {
  program: RpcProgram;
  versions: Map<number, ReadonlyArray<ProcedureHandler | undefined>>;
  low: number;
  high: number;
}

/** First reply buffer size: fits every reject and most small results without regrowth. */
const INITIAL_REPLY_BYTES = 512;

export class RpcDispatcher {
  private readonly programs = new Map<number, ProgramEntry>();

  constructor(
    programs: readonly RpcProgram[],
    private readonly observer: RpcObserver = {},
    private readonly logger: RpcLogger = NOOP_LOGGER,
    private readonly clock: Clock = HRTIME_CLOCK,
  ) {
    for (const program of programs) {
      if (this.programs.has(program.prog)) throw new Error(`program ${program.prog} registered twice`);
      if (program.versions.length === 0) throw new Error(`program ${program.prog} has no versions`);
      const versions = new Map<number, ReadonlyArray<ProcedureHandler | undefined>>();
      let low = Infinity;
      let high = -Infinity;
      for (const v of program.versions) {
        versions.set(v.vers, v.procedures);
        low = Math.min(low, v.vers);
        high = Math.max(high, v.vers);
      }
      this.programs.set(program.prog, { program, versions, low, high });
    }
  }

  /**
   * Answer one RPC message. `framed` reserves a TCP record mark in front of the reply.
   * `creds` remembers the credentials of the message's connection across its calls.
   * Never throws: every failure of a handler becomes an RPC reply.
   */
  async dispatch(message: Buffer, client: ClientAddress, connectionId: number, framed: boolean, creds?: CredentialCache): Promise<DispatchResult> {
    const args = new XdrReader(message);
    let decoded;
    try {
      decoded = decodeCall(args, creds);
    } catch (err) {
      if (err instanceof XdrError) return 'garbage';
      throw err;
    }
    const w = new RpcReplyWriter(INITIAL_REPLY_BYTES);
    const markAt = framed ? beginRecord(w) : 0;
    const start = w.length;

    switch (decoded.kind) {
      case 'notCall':
        return 'garbage';
      case 'rpcMismatch':
        encodeRpcMismatch(w, decoded.xid);
        return finish(w, framed, markAt);
      case 'authError':
        encodeAuthError(w, decoded.xid, decoded.stat);
        return finish(w, framed, markAt);
      case 'call':
        break;
    }
    const { xid, prog, vers, proc } = decoded;
    const entry = this.programs.get(prog);
    if (entry === undefined) {
      encodeAcceptedReply(w, xid, AcceptStat.PROG_UNAVAIL);
      return finish(w, framed, markAt);
    }
    const procedures = entry.versions.get(vers);
    if (procedures === undefined) {
      encodeProgMismatch(w, xid, entry.low, entry.high);
      return finish(w, framed, markAt);
    }
    const handler = procedures[proc];
    if (handler === undefined) {
      encodeAcceptedReply(w, xid, AcceptStat.PROC_UNAVAIL);
      return finish(w, framed, markAt);
    }

    const call: RpcCall = { xid, prog, vers, proc, cred: decoded.cred, args, client, connectionId };
    const timed = this.observer.onCallDone !== undefined;
    const startNs = timed ? this.clock.nowNs() : 0n;
    encodeAcceptedReply(w, xid, AcceptStat.SUCCESS);
    let ok = true;
    try {
      await handler(call, w);
    } catch (err) {
      ok = false;
      if (err instanceof NoReplyError) {
        this.callDone(call, entry.program, startNs, ok);
        return 'silent';
      }
      // Discard whatever the handler wrote: the reply is only the error.
      w.truncate(start + ACCEPT_STAT_OFFSET);
      if (err instanceof XdrError || err instanceof GarbageArgsError) {
        w.uint(AcceptStat.GARBAGE_ARGS);
      } else if (err instanceof AuthRejectError) {
        w.truncate(start);
        encodeAuthError(w, xid, err.stat);
      } else {
        w.uint(AcceptStat.SYSTEM_ERR);
        this.reportError(call, err);
      }
    }
    this.callDone(call, entry.program, startNs, ok);
    return finish(w, framed, markAt);
  }

  private callDone(call: RpcCall, program: RpcProgram, startNs: bigint, ok: boolean): void {
    const onCallDone = this.observer.onCallDone;
    if (onCallDone === undefined) return;
    try {
      const procName = program.procedureNames?.[call.proc] ?? String(call.proc);
      onCallDone.call(this.observer, call, program.name, procName, this.clock.nowNs() - startNs, ok);
    } catch (err) {
      this.logger.error({ err }, 'rpc observer onCallDone threw');
    }
  }

  private reportError(call: RpcCall, err: unknown): void {
    this.logger.error({ err, xid: call.xid, prog: call.prog, vers: call.vers, proc: call.proc }, 'rpc handler failed: SYSTEM_ERR');
    try {
      this.observer.onError?.(call, err);
    } catch (e) {
      this.logger.error({ err: e }, 'rpc observer onError threw');
    }
  }
}

function finish(w: RpcReplyWriter, framed: boolean, markAt: number): Buffer | ReplyPieces {
  if (!framed) {
    const flat = w.flat(0);
    w.releaser()?.(); // a copy when anything was spliced: the spliced buffers are free
    return flat;
  }
  // Most replies splice nothing: one view, no list of pieces.
  if (w.splicedBytes === 0) return endRecord(w, markAt);
  const pieces: ReplyPieces = endRecordPieces(w, markAt);
  const sent = w.releaser();
  if (sent !== undefined) pieces.sent = sent;
  return pieces;
}
