/**
 * The receiving end of a record-marked stream (RFC 5531 §11), below the records: the chunks a
 * socket delivered and not yet consumed, in order, and the 4-byte record marks between
 * fragments, which may arrive cut across chunks. RecordReader (one buffer per record) and the
 * director's RecordPieces (a record as the pieces it arrived in) both read through one.
 *
 * Invariants: bytes are consumed strictly in stream order; a consumed chunk is let go at once
 * (no reference kept), so what the queue holds is what was pushed and not yet consumed
 * (`bytes`), plus at most 3 bytes of a mark cut across chunks.
 */
import { RECORD_MARK_BYTES } from './constants';

const EMPTY = Buffer.alloc(0);

export class ChunkQueue {
  private readonly queue: Buffer[] = [];
  private queueHead = 0;
  /** Where the head chunk's unconsumed bytes start. */
  offset = 0;
  /** Bytes pushed and not yet consumed. */
  bytes = 0;
  /** A record mark cut across chunks, and how much of it has arrived. */
  private readonly mark = Buffer.alloc(RECORD_MARK_BYTES);
  private markFill = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.queue.push(chunk);
    this.bytes += chunk.length;
  }

  /** The chunk holding the next unconsumed byte (from `offset`), or undefined when none. */
  head(): Buffer | undefined {
    return this.queueHead < this.queue.length ? this.queue[this.queueHead] : undefined;
  }

  /** Consumes n bytes of the head chunk (n at most what it has left). */
  consume(n: number): void {
    this.offset += n;
    this.bytes -= n;
    const chunk = this.queue[this.queueHead]!;
    if (this.offset === chunk.length) {
      this.queue[this.queueHead] = EMPTY; // drop the reference so the chunk can be collected
      this.queueHead++;
      this.offset = 0;
      if (this.queueHead === this.queue.length) {
        this.queue.length = 0;
        this.queueHead = 0;
      }
    }
  }

  /** Bytes of a record mark received so far but not yet complete (0 to 3). */
  get partialMarkBytes(): number {
    return this.markFill;
  }

  /**
   * The next record mark (a uint32: last-fragment bit and length), or -1 when its four bytes
   * are not all here yet; the bytes that are stay here for the next call.
   */
  readMark(): number {
    while (this.markFill < RECORD_MARK_BYTES) {
      const chunk = this.head();
      if (chunk === undefined) return -1;
      // The common case: a whole mark inside the head chunk.
      if (this.markFill === 0 && chunk.length - this.offset >= RECORD_MARK_BYTES) {
        const m = chunk.readUInt32BE(this.offset);
        this.consume(RECORD_MARK_BYTES);
        return m;
      }
      this.mark[this.markFill++] = chunk[this.offset]!;
      this.consume(1);
    }
    this.markFill = 0;
    return this.mark.readUInt32BE(0);
  }
}
