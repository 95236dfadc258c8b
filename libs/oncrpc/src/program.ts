/**
 * The contract between the RPC layer and the programs it serves (portmap, MOUNT, NFS).
 *
 * The RPC layer owns everything of RFC 5531 §9: record marking, the call header, credentials,
 * and every reject (RPC_MISMATCH, AUTH_ERROR, PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL,
 * GARBAGE_ARGS, SYSTEM_ERR). A procedure handler sees only a decoded call and writes only its
 * result body; it signals "these arguments do not decode" by letting an XdrError (or a
 * GarbageArgsError) escape, and any other exception becomes SYSTEM_ERR, logged by the server.
 */
import type { XdrReader, XdrWriter } from '@ferry/xdr';

/** RFC 5531 §8.2 / RFC 5531 appendix A: auth flavors we understand. */
export enum AuthFlavor {
  AUTH_NONE = 0,
  AUTH_SYS = 1,
  AUTH_SHORT = 2,
}

/** RFC 5531 appendix A: authsys_parms. */
export interface AuthSysParms {
  stamp: number;
  machinename: string;
  uid: number;
  gid: number;
  gids: number[];
}

export type Credential = { flavor: AuthFlavor.AUTH_NONE } | { flavor: AuthFlavor.AUTH_SYS; sys: AuthSysParms };

/** Where a call came from: the transport peer (or the PROXY v2 source when trusted). */
export interface ClientAddress {
  address: string; // textual IP, IPv4-mapped IPv6 already unwrapped ("127.0.0.1", "::1")
  port: number;
  family: 'IPv4' | 'IPv6';
  transport: 'tcp' | 'udp';
}

export interface RpcCall {
  xid: number;
  prog: number;
  vers: number;
  proc: number;
  cred: Credential;
  /** The call's arguments: positioned at the first argument byte, ending at the record end. */
  args: XdrReader;
  client: ClientAddress;
  /** Unique per transport connection (0 for UDP), for logs and per-connection state. */
  connectionId: number;
}

/**
 * A procedure writes its result (the body after the accepted-reply header) into `reply`.
 * It may be async; replies on one connection go out as each completes (several calls are in
 * flight per connection, RFC 5531 §3 allows any order).
 */
export type ProcedureHandler = (call: RpcCall, reply: XdrWriter) => void | Promise<void>;

export interface RpcProgramVersion {
  vers: number;
  /** Index = procedure number; a missing entry answers PROC_UNAVAIL. */
  procedures: ReadonlyArray<ProcedureHandler | undefined>;
}

export interface RpcProgram {
  prog: number;
  name: string;
  versions: ReadonlyArray<RpcProgramVersion>;
  /** Names by procedure number, for logs and metrics. */
  procedureNames?: ReadonlyArray<string>;
}

/** Thrown by a handler whose arguments are well-formed XDR but not acceptable: GARBAGE_ARGS. */
export class GarbageArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GarbageArgsError';
  }
}

/** Thrown by a handler to reject the credential (RFC 5531 §9: AUTH_ERROR with this stat). */
export class AuthRejectError extends Error {
  constructor(
    readonly stat: number,
    message: string,
  ) {
    super(message);
    this.name = 'AuthRejectError';
  }
}

/**
 * Thrown by a handler that must not answer at all (RFC 1833 §3.2 PMAPPROC_CALLIT is silent
 * when it does not run the call). The server sends nothing and counts the call as done.
 */
export class NoReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoReplyError';
  }
}

/** Hooks the server calls for observability; all optional, none on the hot path may throw. */
export interface RpcObserver {
  onCallDone?(call: RpcCall, programName: string, procName: string, durationNs: bigint, ok: boolean): void;
  onError?(call: RpcCall | undefined, err: unknown): void;
}
