/**
 * TCP record marking, receiving side (RFC 5531 §11), for a relay: each record comes out as the
 * pieces it arrived in, so a 1 MiB WRITE or READ reply crosses the director without being
 * copied or given a buffer of its own (libs/oncrpc's RecordReader copies a record that spans
 * socket chunks into one buffer; at relay rates those allocations were most of the director's
 * garbage collection).
 *
 * The received chunks and the record marks come from libs/oncrpc's ChunkQueue, as for the
 * RecordReader; what differs is what a record becomes.
 *
 * Invariants:
 * - Bytes are consumed in stream order; the pieces of a record, concatenated, are exactly its
 *   fragments' bodies, however the stream was split into chunks (record-pieces.test.ts).
 * - A record mark is checked against maxRecordBytes before any of its bytes are kept; after a
 *   RecordTooLargeError the reader is poisoned (the stream position is lost).
 * - A piece is a view of a socket chunk only when it is at least MIN_VIEW_BYTES long; shorter
 *   runs are copied into a staging buffer of at most STAGING_BYTES. So a record has at most
 *   about length / MIN_VIEW_BYTES * 2 + 1 pieces (a peer trickling one byte per packet cannot
 *   make a piece per byte), and a view keeps at most its chunk (64 KiB) alive for at least a
 *   quarter of it: what a peer makes us retain stays within 4x what we count.
 */
import { ChunkQueue, FRAGMENT_LENGTH_MASK, LAST_FRAGMENT_BIT, RecordTooLargeError } from '@ferry/oncrpc';

export const MIN_VIEW_BYTES = 16 * 1024;
const STAGING_BYTES = 16 * 1024;

export class RecordPieces {
  private readonly chunks = new ChunkQueue();
  /** Body bytes left in the current fragment (-1: between fragments). */
  private fragmentLeft = -1;
  private fragmentLast = false;
  private pieces: Buffer[] = [];
  private recordLength = 0;
  private staging: Buffer | undefined;
  private stagingFill = 0;
  private poisoned: RecordTooLargeError | undefined;
  /** The length of the record last returned by next(). */
  length = 0;

  constructor(readonly maxRecordBytes: number) {
    if (!(maxRecordBytes > 0 && maxRecordBytes <= FRAGMENT_LENGTH_MASK)) throw new RangeError('bad maxRecordBytes');
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  /**
   * The pieces of the next complete record (its length in `length`), or undefined when more
   * bytes are needed. Throws RecordTooLargeError when a mark announces more than the limit.
   */
  next(): Buffer[] | undefined {
    if (this.poisoned) throw this.poisoned;
    for (;;) {
      if (this.fragmentLeft < 0) {
        const mark = this.chunks.readMark();
        if (mark < 0) return undefined;
        this.startFragment(mark);
      }
      // The common case: a whole one-fragment record inside the head chunk, one view.
      if (this.fragmentLast && this.recordLength === 0 && this.stagingFill === 0) {
        const chunk = this.chunks.head();
        const at = this.chunks.offset;
        if (chunk !== undefined && chunk.length - at >= this.fragmentLeft) {
          const view = chunk.subarray(at, at + this.fragmentLeft);
          this.chunks.consume(this.fragmentLeft);
          this.fragmentLeft = -1;
          this.length = view.length;
          return [view];
        }
      }
      while (this.fragmentLeft > 0) {
        const chunk = this.chunks.head();
        if (chunk === undefined) return undefined;
        const at = this.chunks.offset;
        const n = Math.min(this.fragmentLeft, chunk.length - at);
        const part = chunk.subarray(at, at + n);
        if (n >= MIN_VIEW_BYTES) {
          this.flushStaging();
          this.pieces.push(part);
        } else {
          this.stage(part);
        }
        this.recordLength += n;
        this.fragmentLeft -= n;
        this.chunks.consume(n);
      }
      this.fragmentLeft = -1;
      if (this.fragmentLast) {
        this.flushStaging();
        const out = this.pieces;
        this.length = this.recordLength;
        this.pieces = [];
        this.recordLength = 0;
        return out;
      }
    }
  }

  private startFragment(mark: number): void {
    const length = mark & FRAGMENT_LENGTH_MASK;
    // The length comes from the peer: checked before anything is kept for it.
    if (this.recordLength + length > this.maxRecordBytes) {
      this.poisoned = new RecordTooLargeError(this.recordLength + length, this.maxRecordBytes);
      throw this.poisoned;
    }
    this.fragmentLeft = length;
    this.fragmentLast = (mark & LAST_FRAGMENT_BIT) !== 0;
  }

  /** Copies a short run into the staging buffer, sized to what the fragment still needs. */
  private stage(part: Buffer): void {
    let at = 0;
    while (at < part.length) {
      if (this.staging === undefined) {
        this.staging = Buffer.allocUnsafe(Math.min(STAGING_BYTES, this.fragmentLeft - at));
        this.stagingFill = 0;
      }
      const n = Math.min(part.length - at, this.staging.length - this.stagingFill);
      part.copy(this.staging, this.stagingFill, at, at + n);
      this.stagingFill += n;
      at += n;
      if (this.stagingFill === this.staging.length) this.flushStaging();
    }
  }

  private flushStaging(): void {
    if (this.staging !== undefined && this.stagingFill > 0) this.pieces.push(this.staging.subarray(0, this.stagingFill));
    this.staging = undefined;
    this.stagingFill = 0;
  }
}

/** The first `max` bytes of a record (or all of it) in one buffer: a view when possible. */
export function recordHead(pieces: readonly Buffer[], length: number, max: number): Buffer {
  const want = Math.min(length, max);
  const first = pieces[0];
  if (first !== undefined && first.length >= want) return first.subarray(0, want);
  const out = Buffer.allocUnsafe(want);
  let at = 0;
  for (const p of pieces) {
    if (at >= want) break;
    const n = Math.min(p.length, want - at);
    p.copy(out, at, 0, n);
    at += n;
  }
  return out;
}
