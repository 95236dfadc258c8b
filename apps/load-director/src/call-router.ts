/**
 * What the director needs from a call record to route it, read straight from the bytes
 * (RFC 5531 §9 call header, RFC 1813 §3.3 NFSv3 arguments, RFC 1813 §5.2 MOUNT arguments).
 *
 * Invariants: `classifyCall` never throws and never allocates for an NFSv3 call (it fills the
 * caller's CallInfo; only a MOUNT path becomes a string); it reads only inside the record, and
 * every length it reads is checked against what remains before it is used. It decides nothing
 * a mover would decide differently: credentials are passed through unjudged except for the
 * header-level rejects (RPC_MISMATCH, oversized opaque_auth) that make the arguments unfindable.
 */
import { AcceptStat, AuthStat, MAX_AUTH_BYTES, MsgType, RPC_VERSION } from '@ferry/oncrpc';
import { FH_FSID_OFFSET, FH_LENGTH, FH_VERSION } from '@ferry/nfs';

/** libs/nfs/FORMAT.md: the handle's version byte is its first. */
const FH_VERSION_OFFSET = 0;

export const PROG_NFS = 100003;
export const PROG_MOUNT = 100005;
export const NFS_V3 = 3;
/** RFC 1813 §3.3: procedures 0 (NULL) to 21 (COMMIT). */
export const NFS3_PROC_COUNT = 22;
/** RFC 1813 §2.3.3: nfs_fh3 is opaque<64>. */
const NFS3_FHSIZE = 64;
/** RFC 1813 §5.1: MNTPATHLEN. */
const MNTPATHLEN = 1024;

export enum MountProc {
  NULL = 0,
  MNT = 1,
  DUMP = 2,
  UMNT = 3,
  UMNTALL = 4,
  EXPORT = 5,
}

export enum Verdict {
  /** Not a call, or a header cut short: no reply (as the movers' RPC server does). */
  Drop,
  /** Answer locally: RPC_MISMATCH (2, 2). */
  RpcMismatch,
  /** Answer locally: AUTH_ERROR with `info.authStat`. */
  AuthError,
  /** Answer locally: MSG_ACCEPTED with `info.acceptStat` (PROG_MISMATCH carries info.low/high). */
  Accepted,
  /** Answer locally: SUCCESS with an empty result (NULL procedures). */
  Null,
  /** Relay to the owner of `info.fsid`. */
  Fsid,
  /** Relay to the owner of the filesystem exported at `info.path`. */
  ExportPath,
  /** Relay to any mover. */
  AnyMover,
}

/** Filled by classifyCall; reused by the caller across calls. */
export class CallInfo {
  xid = 0;
  prog = 0;
  vers = 0;
  proc = 0;
  fsid = 0n;
  path = '';
  authStat: AuthStat = AuthStat.AUTH_OK;
  acceptStat: AcceptStat = AcceptStat.SUCCESS;
  low = 0;
  high = 0;
}

function accepted(info: CallInfo, stat: AcceptStat, low = 0, high = 0): Verdict {
  info.acceptStat = stat;
  info.low = low;
  info.high = high;
  return Verdict.Accepted;
}

export function classifyCall(rec: Buffer, info: CallInfo): Verdict {
  const n = rec.length;
  if (n < 8) return Verdict.Drop;
  info.xid = rec.readUInt32BE(0);
  if (rec.readUInt32BE(4) !== MsgType.CALL) return Verdict.Drop;
  if (n < 12) return Verdict.Drop;
  if (rec.readUInt32BE(8) !== RPC_VERSION) return Verdict.RpcMismatch;
  if (n < 32) return Verdict.Drop;
  info.prog = rec.readUInt32BE(12);
  info.vers = rec.readUInt32BE(16);
  info.proc = rec.readUInt32BE(20);
  // RFC 5531 §8.2: opaque_auth bodies are at most 400 bytes (padded to 4).
  const credLength = rec.readUInt32BE(28);
  if (credLength > MAX_AUTH_BYTES) return authError(info, AuthStat.AUTH_BADCRED);
  let at = 32 + pad4(credLength);
  if (n < at + 8) return Verdict.Drop;
  const verfLength = rec.readUInt32BE(at + 4);
  if (verfLength > MAX_AUTH_BYTES) return authError(info, AuthStat.AUTH_BADVERF);
  at += 8 + pad4(verfLength);
  if (n < at) return Verdict.Drop;
  // `at` is the first argument byte.
  if (info.prog === PROG_NFS) {
    if (info.vers !== NFS_V3) return accepted(info, AcceptStat.PROG_MISMATCH, NFS_V3, NFS_V3);
    if (info.proc === 0) return Verdict.Null;
    if (info.proc >= NFS3_PROC_COUNT) return accepted(info, AcceptStat.PROC_UNAVAIL);
    // RFC 1813: every procedure but NULL starts with an nfs_fh3 (opaque<64>).
    if (n < at + 4) return accepted(info, AcceptStat.GARBAGE_ARGS);
    const fhLength = rec.readUInt32BE(at);
    if (fhLength > NFS3_FHSIZE || n < at + 4 + fhLength) return accepted(info, AcceptStat.GARBAGE_ARGS);
    const fh = at + 4;
    // A handle of another length or version is not ours: any mover answers NFS3ERR_BADHANDLE.
    if (fhLength !== FH_LENGTH || rec[fh + FH_VERSION_OFFSET] !== FH_VERSION) return Verdict.AnyMover;
    info.fsid = rec.readBigUInt64BE(fh + FH_FSID_OFFSET);
    return Verdict.Fsid;
  }
  if (info.prog === PROG_MOUNT) {
    if (info.vers !== 1 && info.vers !== 3) return accepted(info, AcceptStat.PROG_MISMATCH, 1, 3);
    switch (info.proc) {
      case MountProc.NULL:
        return Verdict.Null;
      case MountProc.MNT:
      case MountProc.UMNT: {
        if (n < at + 4) return accepted(info, AcceptStat.GARBAGE_ARGS);
        const length = rec.readUInt32BE(at);
        if (length > MNTPATHLEN || n < at + 4 + length) return accepted(info, AcceptStat.GARBAGE_ARGS);
        info.path = rec.toString('utf8', at + 4, at + 4 + length);
        return Verdict.ExportPath;
      }
      case MountProc.DUMP:
      case MountProc.UMNTALL:
      case MountProc.EXPORT:
        return Verdict.AnyMover;
      default:
        return accepted(info, AcceptStat.PROC_UNAVAIL);
    }
  }
  // The director speaks for NFS and MOUNT only (the portmapper has its own port).
  return accepted(info, AcceptStat.PROG_UNAVAIL);
}

function authError(info: CallInfo, stat: AuthStat): Verdict {
  info.authStat = stat;
  return Verdict.AuthError;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** RFC 1813 §2.6 nfsstat3 NFS3ERR_JUKEBOX. */
export const NFS3ERR_JUKEBOX = 10008;

/**
 * Words after the status in each NFSv3 procedure's resfail (RFC 1813 §3.3), every one a FALSE
 * "attributes follow" flag: post_op_attr = 1 word, wcc_data = pre_op_attr + post_op_attr = 2.
 */
export const NFS3_RESFAIL_WORDS: readonly number[] = [
  0, // NULL (has no resfail)
  0, // GETATTR: status only
  2, // SETATTR: obj_wcc
  1, // LOOKUP: dir_attributes
  1, // ACCESS: obj_attributes
  1, // READLINK: symlink_attributes
  1, // READ: file_attributes
  2, // WRITE: file_wcc
  2, // CREATE: dir_wcc
  2, // MKDIR: dir_wcc
  2, // SYMLINK: dir_wcc
  2, // MKNOD: dir_wcc
  2, // REMOVE: dir_wcc
  2, // RMDIR: dir_wcc
  4, // RENAME: fromdir_wcc, todir_wcc
  3, // LINK: file_attributes, linkdir_wcc
  1, // READDIR: dir_attributes
  1, // READDIRPLUS: dir_attributes
  1, // FSSTAT: obj_attributes
  1, // FSINFO: obj_attributes
  1, // PATHCONF: obj_attributes
  2, // COMMIT: file_wcc
];

/**
 * The nfsstat3 of an NFSv3 reply record, or -1 when it is not an accepted SUCCESS reply with a
 * status word (RFC 5531 §9 accepted_reply, then the procedure's status first).
 */
export function nfsReplyStatus(rec: Buffer): number {
  if (rec.length < 24 || rec.readUInt32BE(4) !== MsgType.REPLY || rec.readUInt32BE(8) !== 0) return -1;
  const verfLength = rec.readUInt32BE(16);
  if (verfLength > MAX_AUTH_BYTES) return -1;
  const at = 20 + pad4(verfLength);
  if (rec.length < at + 8 || rec.readUInt32BE(at) !== AcceptStat.SUCCESS) return -1;
  return rec.readUInt32BE(at + 4);
}
