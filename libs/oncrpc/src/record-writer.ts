/**
 * TCP record marking, sending side (RFC 5531 §11).
 *
 * A reply is built in one XdrWriter that starts with 4 reserved bytes; when it is complete
 * the record mark is written into them, so framing costs no copy. Every record we send is a
 * single last fragment: our records are bounded well below 2^31 bytes.
 */
import type { XdrWriter } from '@ferry/xdr';
import { FRAGMENT_LENGTH_MASK, LAST_FRAGMENT_BIT, RECORD_MARK_BYTES } from './constants';
import type { RpcReplyWriter } from './reply-writer';

/** Reserve room for the record mark; returns its offset for `endRecord`. */
export function beginRecord(w: XdrWriter): number {
  const at = w.length;
  w.uint(0);
  return at;
}

/** Write the last-fragment mark at `markAt` and return the framed record (a view). */
export function endRecord(w: XdrWriter, markAt: number): Buffer {
  const length = w.length - markAt - RECORD_MARK_BYTES;
  if (length > FRAGMENT_LENGTH_MASK) throw new RangeError(`record of ${length} bytes cannot be framed`);
  w.patchUint(markAt, (LAST_FRAGMENT_BIT | length) >>> 0);
  return w.buf.subarray(markAt, w.length);
}

/**
 * Write the last-fragment mark at `markAt`, counting spliced buffers, and return the framed
 * record as pieces to write in order (views and the spliced buffers themselves, no copy).
 */
export function endRecordPieces(w: RpcReplyWriter, markAt: number): Buffer[] {
  const length = w.length - markAt - RECORD_MARK_BYTES + w.splicedBytes;
  if (length > FRAGMENT_LENGTH_MASK) throw new RangeError(`record of ${length} bytes cannot be framed`);
  w.patchUint(markAt, (LAST_FRAGMENT_BIT | length) >>> 0);
  return w.pieces(markAt);
}

/** Frame an already-encoded message (copies; for tests and tools, not the hot path). */
export function frameRecord(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(RECORD_MARK_BYTES + message.length);
  out.writeUInt32BE((LAST_FRAGMENT_BIT | message.length) >>> 0, 0);
  out.set(message, RECORD_MARK_BYTES);
  return out;
}
