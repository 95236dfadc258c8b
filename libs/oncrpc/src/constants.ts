/**
 * RPC message layout constants (RFC 5531 §9 and appendix A). This module holds only the
 * layout; FORMAT.md describes it in prose and message.test.ts pins it with golden bytes.
 */

/** RFC 5531 §9: the only RPC protocol version there is. */
export const RPC_VERSION = 2;

/** RFC 5531 §9: msg_type. */
export enum MsgType {
  CALL = 0,
  REPLY = 1,
}

/** RFC 5531 §9: reply_stat. */
export enum ReplyStat {
  MSG_ACCEPTED = 0,
  MSG_DENIED = 1,
}

/** RFC 5531 §9: accept_stat. */
export enum AcceptStat {
  SUCCESS = 0,
  PROG_UNAVAIL = 1,
  PROG_MISMATCH = 2,
  PROC_UNAVAIL = 3,
  GARBAGE_ARGS = 4,
  SYSTEM_ERR = 5,
}

/** RFC 5531 §9: reject_stat. */
export enum RejectStat {
  RPC_MISMATCH = 0,
  AUTH_ERROR = 1,
}

/** RFC 5531 §9: auth_stat. */
export enum AuthStat {
  AUTH_OK = 0,
  AUTH_BADCRED = 1,
  AUTH_REJECTEDCRED = 2,
  AUTH_BADVERF = 3,
  AUTH_REJECTEDVERF = 4,
  AUTH_TOOWEAK = 5,
  AUTH_INVALIDRESP = 6,
  AUTH_FAILED = 7,
  AUTH_KERB_GENERIC = 8,
  AUTH_TIMEEXPIRE = 9,
  AUTH_TKT_FILE = 10,
  AUTH_DECODE = 11,
  AUTH_NET_ADDR = 12,
  RPCSEC_GSS_CREDPROBLEM = 13,
  RPCSEC_GSS_CTXPROBLEM = 14,
}

/** RFC 5531 §8.2: the body of an opaque_auth is at most 400 bytes. */
export const MAX_AUTH_BYTES = 400;
/** RFC 5531 appendix A: authsys_parms.machinename<255>. */
export const MAX_MACHINENAME_BYTES = 255;
/** RFC 5531 appendix A: authsys_parms.gids<16>. */
export const MAX_AUTH_SYS_GIDS = 16;

/** RFC 5531 §11: record mark: high bit = last fragment, low 31 bits = fragment length. */
export const LAST_FRAGMENT_BIT = 0x8000_0000;
export const FRAGMENT_LENGTH_MASK = 0x7fff_ffff;
export const RECORD_MARK_BYTES = 4;

/** Default largest record we accept: a 1 MiB WRITE plus generous room for headers. */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024 + 64 * 1024;

/**
 * Accepted reply header up to and including accept_stat, with an AUTH_NONE verifier:
 * xid, msg_type, reply_stat, verf.flavor, verf.length, accept_stat.
 */
export const ACCEPTED_REPLY_HEADER_BYTES = 24;
/** Offset of accept_stat inside an accepted reply with an AUTH_NONE verifier. */
export const ACCEPT_STAT_OFFSET = 20;

/** The largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP). */
export const MAX_UDP_PAYLOAD_BYTES = 65_507;
