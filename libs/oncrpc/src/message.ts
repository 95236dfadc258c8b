/**
 * RPC message codec (RFC 5531 §9): call and reply headers, AUTH_NONE and AUTH_SYS credentials.
 *
 * Decoding a call never throws for a header that is complete but unacceptable: it returns the
 * reject the server must send (RPC_MISMATCH, AUTH_ERROR). It throws XdrError only when the
 * header is cut short or is not a call at all, which the server answers with silence, because
 * without a whole header there is nothing trustworthy to answer.
 */
import { XdrError, XdrReader, type XdrWriter } from '@ferry/xdr';
import {
  AcceptStat,
  AuthStat,
  MAX_AUTH_BYTES,
  MAX_AUTH_SYS_GIDS,
  MAX_MACHINENAME_BYTES,
  MsgType,
  RejectStat,
  ReplyStat,
  RPC_VERSION,
} from './constants';
import { AuthFlavor, type AuthSysParms, type Credential } from './program';

/** The AUTH_NONE credential; shared because it carries no data (no allocation per call). */
export const CRED_NONE: Credential = Object.freeze({ flavor: AuthFlavor.AUTH_NONE });

/** RFC 5531 §8.2: opaque_auth as seen on the wire (the body is a view into the message). */
export interface OpaqueAuth {
  flavor: number;
  body: Buffer;
}

export interface CallHeader {
  xid: number;
  prog: number;
  vers: number;
  proc: number;
  cred: Credential;
}

/** What the server should do with a message, decided from its header alone. */
export type DecodedCall =
  | ({ kind: 'call' } & CallHeader)
  /** RFC 5531 §9: rpcvers other than 2: reply MSG_DENIED / RPC_MISMATCH (2, 2). */
  | { kind: 'rpcMismatch'; xid: number }
  /** RFC 5531 §9: reply MSG_DENIED / AUTH_ERROR with this auth_stat. */
  | { kind: 'authError'; xid: number; stat: AuthStat }
  /** A REPLY (or unknown msg_type) sent to a server: dropped. */
  | { kind: 'notCall'; xid: number };

/**
 * AUTH_SYS credentials recently decoded on one transport connection, by their exact body bytes.
 * A client sends the same credential with call after call, so the decode (a string, an array,
 * two objects) is done once per credential instead of once per call. A hit compares every byte
 * of the body, so it is exactly what decoding would give; the shared Credential is frozen.
 */
export class CredentialCache {
  private readonly bodies: Buffer[] = [];
  private readonly creds: Credential[] = [];
  private nextSlot = 0;

  constructor(private readonly capacity = 4) {
    if (!(capacity >= 1)) throw new RangeError('CredentialCache capacity must be at least 1');
  }

  get(body: Buffer): Credential | undefined {
    for (let i = 0; i < this.bodies.length; i++) if (this.bodies[i]!.equals(body)) return this.creds[i];
    return undefined;
  }

  /** Remembers `cred` for a copy of `body`, replacing the oldest entry when full. */
  put(body: Buffer, cred: Credential): void {
    const slot = this.bodies.length < this.capacity ? this.bodies.length : this.nextSlot;
    this.nextSlot = (slot + 1) % this.capacity;
    this.bodies[slot] = Buffer.from(body);
    this.creds[slot] = cred;
  }
}

/**
 * Decode a call header (RFC 5531 §9 call_body) and leave `r` at the first argument byte.
 * Throws XdrError when the header is truncated. With `creds`, AUTH_SYS credentials seen
 * before on the same connection are taken from it (frozen and shared).
 */
export function decodeCall(r: XdrReader, creds?: CredentialCache): DecodedCall {
  const xid = r.uint();
  const msgType = r.uint();
  if (msgType !== MsgType.CALL) return { kind: 'notCall', xid };
  // RFC 5531 §9: a server that does not speak the caller's rpcvers says which it does, and
  // nothing after rpcvers can be trusted to have our layout.
  if (r.uint() !== RPC_VERSION) return { kind: 'rpcMismatch', xid };
  const prog = r.uint();
  const vers = r.uint();
  const proc = r.uint();

  const credFlavor = r.uint();
  const credLength = r.uint();
  // RFC 5531 §8.2 caps opaque_auth at 400 bytes: a longer credential is a bad one, answered
  // even though we cannot tell where the arguments would have started.
  if (credLength > MAX_AUTH_BYTES) return { kind: 'authError', xid, stat: AuthStat.AUTH_BADCRED };
  const credBody = r.fixedOpaque(credLength);

  const verfFlavor = r.uint();
  const verfLength = r.uint();
  if (verfLength > MAX_AUTH_BYTES) return { kind: 'authError', xid, stat: AuthStat.AUTH_BADVERF };
  r.skipFixedOpaque(verfLength);

  let cred: Credential;
  if (credFlavor === AuthFlavor.AUTH_NONE) {
    // RFC 5531 §10.1: the AUTH_NONE body is empty; anything else is a malformed credential.
    if (credLength !== 0) return { kind: 'authError', xid, stat: AuthStat.AUTH_BADCRED };
    cred = CRED_NONE;
  } else if (credFlavor === AuthFlavor.AUTH_SYS) {
    const known = creds?.get(credBody);
    if (known !== undefined) {
      cred = known;
    } else {
      const sys = decodeAuthSysBody(credBody);
      if (sys === undefined) return { kind: 'authError', xid, stat: AuthStat.AUTH_BADCRED };
      cred = { flavor: AuthFlavor.AUTH_SYS, sys };
      if (creds !== undefined) {
        Object.freeze(sys.gids);
        Object.freeze(sys);
        Object.freeze(cred);
        creds.put(credBody, cred);
      }
    }
  } else {
    // We issue no AUTH_SHORT handles and speak no RPCSEC_GSS: REJECTEDCRED tells the client
    // to start again with another flavor (glibc and the BSDs answer the same).
    return { kind: 'authError', xid, stat: AuthStat.AUTH_REJECTEDCRED };
  }
  // RFC 5531 §10.1/§10.2: AUTH_NONE and AUTH_SYS calls carry an AUTH_NONE verifier.
  if (verfFlavor !== AuthFlavor.AUTH_NONE) return { kind: 'authError', xid, stat: AuthStat.AUTH_BADVERF };
  return { kind: 'call', xid, prog, vers, proc, cred };
}

/**
 * RFC 5531 appendix A: authsys_parms, which must fill the credential body exactly.
 * Returns undefined for a malformed body (the caller answers AUTH_BADCRED).
 */
export function decodeAuthSysBody(body: Buffer): AuthSysParms | undefined {
  const r = new XdrReader(body);
  try {
    const stamp = r.uint();
    const machinename = r.string(MAX_MACHINENAME_BYTES);
    const uid = r.uint();
    const gid = r.uint();
    const n = r.uint();
    if (n > MAX_AUTH_SYS_GIDS || n * 4 > r.remaining) return undefined;
    const gids = new Array<number>(n);
    for (let i = 0; i < n; i++) gids[i] = r.uint();
    if (r.remaining !== 0) return undefined;
    return { stamp, machinename, uid, gid, gids };
  } catch (err) {
    if (err instanceof XdrError) return undefined;
    throw err;
  }
}

/** Encode an opaque_auth for a credential (RFC 5531 §8.2, appendix A). */
export function encodeCredential(w: XdrWriter, cred: Credential): void {
  if (cred.flavor === AuthFlavor.AUTH_NONE) {
    w.uint(AuthFlavor.AUTH_NONE).uint(0);
    return;
  }
  const s = cred.sys;
  if (Buffer.byteLength(s.machinename, 'utf8') > MAX_MACHINENAME_BYTES) throw new RangeError('machinename over 255 bytes');
  if (s.gids.length > MAX_AUTH_SYS_GIDS) throw new RangeError('more than 16 gids');
  w.uint(AuthFlavor.AUTH_SYS);
  const lengthAt = w.length;
  w.uint(0);
  w.uint(s.stamp).string(s.machinename).uint(s.uid).uint(s.gid);
  w.uint(s.gids.length);
  for (const g of s.gids) w.uint(g);
  w.patchUint(lengthAt, w.length - lengthAt - 4);
}

/** Encode a call header (RFC 5531 §9) with an AUTH_NONE verifier; arguments follow. */
export function encodeCallHeader(w: XdrWriter, h: CallHeader): void {
  w.uint(h.xid).uint(MsgType.CALL).uint(RPC_VERSION).uint(h.prog).uint(h.vers).uint(h.proc);
  encodeCredential(w, h.cred);
  w.uint(AuthFlavor.AUTH_NONE).uint(0);
}

/**
 * Accepted reply header with an AUTH_NONE verifier (RFC 5531 §9), ending with accept_stat.
 * For SUCCESS the procedure's results follow; for the others nothing follows.
 */
export function encodeAcceptedReply(w: XdrWriter, xid: number, stat: AcceptStat): void {
  w.uint(xid).uint(MsgType.REPLY).uint(ReplyStat.MSG_ACCEPTED).uint(AuthFlavor.AUTH_NONE).uint(0).uint(stat);
}

/** RFC 5531 §9: PROG_MISMATCH carries the lowest and highest versions we serve. */
export function encodeProgMismatch(w: XdrWriter, xid: number, low: number, high: number): void {
  encodeAcceptedReply(w, xid, AcceptStat.PROG_MISMATCH);
  w.uint(low).uint(high);
}

/** RFC 5531 §9: MSG_DENIED / RPC_MISMATCH with the versions we speak (2, 2). */
export function encodeRpcMismatch(w: XdrWriter, xid: number, low = RPC_VERSION, high = RPC_VERSION): void {
  w.uint(xid).uint(MsgType.REPLY).uint(ReplyStat.MSG_DENIED).uint(RejectStat.RPC_MISMATCH).uint(low).uint(high);
}

/** RFC 5531 §9: MSG_DENIED / AUTH_ERROR with an auth_stat. */
export function encodeAuthError(w: XdrWriter, xid: number, stat: AuthStat): void {
  w.uint(xid).uint(MsgType.REPLY).uint(ReplyStat.MSG_DENIED).uint(RejectStat.AUTH_ERROR).uint(stat);
}

export interface VersionRange {
  low: number;
  high: number;
}

/** A decoded reply header; for SUCCESS the reader is left at the first result byte. */
export type ReplyHeader =
  | { xid: number; kind: 'accepted'; verf: OpaqueAuth; stat: AcceptStat; mismatch?: VersionRange }
  | { xid: number; kind: 'denied'; stat: RejectStat.RPC_MISMATCH; mismatch: VersionRange }
  | { xid: number; kind: 'denied'; stat: RejectStat.AUTH_ERROR; authStat: AuthStat };

/** Decode a reply header (RFC 5531 §9 reply_body). Throws XdrError if it is malformed. */
export function decodeReplyHeader(r: XdrReader): ReplyHeader {
  const xid = r.uint();
  const msgType = r.uint();
  if (msgType !== MsgType.REPLY) throw new XdrError(`not a reply: msg_type ${msgType}`);
  const replyStat = r.uint();
  if (replyStat === ReplyStat.MSG_ACCEPTED) {
    const flavor = r.uint();
    const body = r.opaque(MAX_AUTH_BYTES);
    const stat = r.uint();
    if (stat > AcceptStat.SYSTEM_ERR) throw new XdrError(`bad accept_stat ${stat}`);
    if (stat === AcceptStat.PROG_MISMATCH) {
      const low = r.uint();
      const high = r.uint();
      return { xid, kind: 'accepted', verf: { flavor, body }, stat, mismatch: { low, high } };
    }
    return { xid, kind: 'accepted', verf: { flavor, body }, stat };
  }
  if (replyStat === ReplyStat.MSG_DENIED) {
    const rejectStat = r.uint();
    if (rejectStat === RejectStat.RPC_MISMATCH) {
      const low = r.uint();
      const high = r.uint();
      return { xid, kind: 'denied', stat: RejectStat.RPC_MISMATCH, mismatch: { low, high } };
    }
    if (rejectStat === RejectStat.AUTH_ERROR) {
      return { xid, kind: 'denied', stat: RejectStat.AUTH_ERROR, authStat: r.uint() };
    }
    throw new XdrError(`bad reject_stat ${rejectStat}`);
  }
  throw new XdrError(`bad reply_stat ${replyStat}`);
}
