/**
 * Replies the director writes itself (RFC 5531 §9), each as one framed record: the rejects a
 * call header earns, NULL, and NFS3ERR_JUKEBOX / MOUNT answers for calls held past
 * FERRY_HOLD_MS. These are off the relay's hot path, so clarity wins over allocation here.
 */
import { XdrWriter } from '@ferry/xdr';
import { AcceptStat, beginRecord, encodeAcceptedReply, encodeAuthError, encodeRpcMismatch, endRecord, type AuthStat } from '@ferry/oncrpc';
import { NFS3_RESFAIL_WORDS, NFS3ERR_JUKEBOX } from './call-router';

function framed(write: (w: XdrWriter) => void): Buffer {
  const w = new XdrWriter(64);
  const at = beginRecord(w);
  write(w);
  return Buffer.from(endRecord(w, at));
}

export function rpcMismatchReply(xid: number): Buffer {
  return framed((w) => encodeRpcMismatch(w, xid));
}

export function authErrorReply(xid: number, stat: AuthStat): Buffer {
  return framed((w) => encodeAuthError(w, xid, stat));
}

/** Accepted, not SUCCESS; PROG_MISMATCH carries the versions served. */
export function acceptedReply(xid: number, stat: AcceptStat, low = 0, high = 0): Buffer {
  return framed((w) => {
    encodeAcceptedReply(w, xid, stat);
    if (stat === AcceptStat.PROG_MISMATCH) w.uint(low).uint(high);
  });
}

/** SUCCESS with a void result (NULL, UMNT, UMNTALL) or an empty mountlist (DUMP: one FALSE). */
export function voidReply(xid: number, extraFalseWords = 0): Buffer {
  return framed((w) => {
    encodeAcceptedReply(w, xid, AcceptStat.SUCCESS);
    for (let i = 0; i < extraFalseWords; i++) w.uint(0);
  });
}

/** RFC 1813: NFS3ERR_JUKEBOX with the procedure's resfail body, every attribute absent. */
export function jukeboxReply(xid: number, proc: number): Buffer {
  return framed((w) => {
    encodeAcceptedReply(w, xid, AcceptStat.SUCCESS);
    w.uint(NFS3ERR_JUKEBOX);
    const words = NFS3_RESFAIL_WORDS[proc] ?? 0;
    for (let i = 0; i < words; i++) w.uint(0);
  });
}
