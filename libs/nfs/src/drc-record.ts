/**
 * The key under which a duplicate request cache record is kept with its filesystem
 * (`FileSystem.recordReply(key, reply)`): every field of a `DrcRecord` except the reply, which
 * the engine stores beside it. Layout: libs/nfs/FORMAT.md "DRC reply record key".
 *
 * Invariants: big-endian, fixed fields first, then the client address (1..255 bytes of ASCII
 * text as the RPC layer gave it). The bytes come back from storage a new owner did not write
 * itself, so the decoder checks every length and answers undefined for anything malformed,
 * never throws and never allocates more than the input.
 */
import type { DrcRecord } from './drc';

export const DRC_KEY_VERSION = 1;
export const DRC_KEY_FIXED_BYTES = 30;
export const DRC_KEY_CLIENT_MAX = 255;

/** The record's key bytes; undefined when the record cannot be kept (a client address too long). */
export function encodeDrcKey(r: DrcRecord): Buffer | undefined {
  const clientLen = Buffer.byteLength(r.client, 'latin1');
  if (clientLen === 0 || clientLen > DRC_KEY_CLIENT_MAX) return undefined;
  const b = Buffer.allocUnsafe(DRC_KEY_FIXED_BYTES + clientLen);
  b[0] = DRC_KEY_VERSION;
  b.writeUInt32BE(r.xid >>> 0, 1);
  b.writeUInt32BE(r.prog >>> 0, 5);
  b.writeUInt32BE(r.vers >>> 0, 9);
  b.writeUInt32BE(r.proc >>> 0, 13);
  b.writeUInt32BE(r.argsChecksum >>> 0, 17);
  // Whole milliseconds, clamped to [0, 2^53): informational only (eviction goes by order).
  const ms = Number.isFinite(r.completedAtMs) ? Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.floor(r.completedAtMs))) : 0;
  b.writeBigUInt64BE(BigInt(ms), 21);
  b[29] = clientLen;
  b.write(r.client, DRC_KEY_FIXED_BYTES, 'latin1');
  return b;
}

/** The record a key and reply stand for, or undefined when the key is malformed. */
export function decodeDrcKey(key: Buffer, reply: Buffer): DrcRecord | undefined {
  if (key.length < DRC_KEY_FIXED_BYTES + 1 || key[0] !== DRC_KEY_VERSION) return undefined;
  const clientLen = key[29]!;
  if (clientLen === 0 || key.length !== DRC_KEY_FIXED_BYTES + clientLen) return undefined;
  const ms = key.readBigUInt64BE(21);
  if (ms > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return {
    client: key.toString('latin1', DRC_KEY_FIXED_BYTES),
    xid: key.readUInt32BE(1),
    prog: key.readUInt32BE(5),
    vers: key.readUInt32BE(9),
    proc: key.readUInt32BE(13),
    argsChecksum: key.readUInt32BE(17),
    completedAtMs: Number(ms),
    reply,
  };
}
