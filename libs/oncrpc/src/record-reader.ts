/**
 * TCP record marking, receiving side (RFC 5531 §11).
 *
 * Invariants:
 * - Bytes are consumed strictly in stream order; `chunks` (ChunkQueue) holds what was received
 *   and not yet looked at and a record mark cut across chunks, `fragment` a fragment body cut
 *   across chunks, `assembly` the earlier fragments of a multi-fragment record.
 * - No record and no fragment grows past `maxRecordBytes`: a mark is checked before any byte
 *   of its fragment is stored, so a peer controls at most maxRecordBytes of memory here plus
 *   the chunks it has sent that `next()` has not yet been asked to parse.
 * - A single-fragment record that sits inside one chunk is returned as a view of that chunk
 *   (no copy). A fragment split across chunks gets one buffer of its announced length when its
 *   first body bytes arrive (the length is already checked against maxRecordBytes), and each
 *   byte is copied into it once: growing by doubling copied a 1 MiB WRITE about twice over.
 *   A peer that sends only a mark holds nothing; one that trickles holds up to maxRecordBytes,
 *   which is the bound stated above.
 * - After RecordTooLargeError the reader is poisoned: the stream position is lost, so the only
 *   safe thing left is to close the connection.
 */
import { ChunkQueue } from './chunk-queue';
import { FRAGMENT_LENGTH_MASK, LAST_FRAGMENT_BIT } from './constants';

export class RecordTooLargeError extends Error {
  constructor(
    readonly recordBytes: number,
    readonly maxRecordBytes: number,
  ) {
    super(`record of at least ${recordBytes} bytes exceeds the limit of ${maxRecordBytes}`);
    this.name = 'RecordTooLargeError';
  }
}

export class RecordReader {
  private readonly chunks = new ChunkQueue();

  /** The fragment being read: its length and whether it ends the record (-1: between fragments). */
  private fragmentLength = -1;
  private fragmentLast = false;
  /** Storage for a fragment that spans chunks, and how much of it has arrived. */
  private fragment: Buffer | undefined;
  private fragmentFill = 0;

  /** Earlier fragments of the current record. */
  private assembly: Buffer | undefined;
  private assemblyLength = 0;

  private poisoned: RecordTooLargeError | undefined;

  constructor(readonly maxRecordBytes: number) {
    if (!(maxRecordBytes > 0 && maxRecordBytes <= FRAGMENT_LENGTH_MASK)) throw new RangeError('bad maxRecordBytes');
  }

  /** Bytes received and not yet parsed (excludes partial records already copied aside). */
  get bufferedBytes(): number {
    return this.chunks.bytes;
  }

  /** Bytes held for the record being reassembled. */
  get partialRecordBytes(): number {
    return this.assemblyLength + this.fragmentFill + this.chunks.partialMarkBytes;
  }

  /** Bytes allocated for the record being reassembled (capacity, not fill). */
  get reservedBytes(): number {
    return (this.fragment?.length ?? 0) + (this.assembly?.length ?? 0);
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  /**
   * The next complete record, or undefined when more bytes are needed.
   * Throws RecordTooLargeError when a record mark announces more than the limit.
   */
  next(): Buffer | undefined {
    if (this.poisoned) throw this.poisoned;
    for (;;) {
      if (this.fragmentLength < 0) {
        const mark = this.chunks.readMark();
        if (mark < 0) return undefined;
        this.startFragment(mark);
        continue;
      }
      const body = this.readFragmentBody();
      if (body === undefined) return undefined;
      const last = this.fragmentLast;
      this.fragmentLength = -1;
      if (last && this.assembly === undefined) return body;
      this.appendToAssembly(body);
      if (last) {
        const record = this.assembly!.subarray(0, this.assemblyLength);
        this.assembly = undefined;
        this.assemblyLength = 0;
        return record;
      }
    }
  }

  private startFragment(mark: number): void {
    const length = mark & FRAGMENT_LENGTH_MASK;
    const recordBytes = this.assemblyLength + length;
    // The length comes from the peer: it is checked before anything is allocated for it.
    if (recordBytes > this.maxRecordBytes) {
      this.poisoned = new RecordTooLargeError(recordBytes, this.maxRecordBytes);
      throw this.poisoned;
    }
    this.fragmentLength = length;
    this.fragmentLast = (mark & LAST_FRAGMENT_BIT) !== 0;
    this.fragmentFill = 0;
    this.fragment = undefined;
  }

  /** The body of the current fragment, or undefined when it is not all here yet. */
  private readFragmentBody(): Buffer | undefined {
    const length = this.fragmentLength;
    if (this.fragment === undefined) {
      if (length === 0) return EMPTY;
      const chunk = this.chunks.head();
      if (chunk === undefined) return undefined;
      const at = this.chunks.offset;
      if (chunk.length - at >= length) {
        // The common case: the whole fragment is in one chunk; hand out a view.
        this.chunks.consume(length);
        return chunk.subarray(at, at + length);
      }
      // One allocation of the announced length (at most maxRecordBytes, checked in
      // startFragment): every byte is then copied exactly once.
      this.fragment = Buffer.allocUnsafe(length);
    }
    const target = this.fragment;
    while (this.fragmentFill < length) {
      const chunk = this.chunks.head();
      if (chunk === undefined) return undefined;
      const at = this.chunks.offset;
      const n = Math.min(length - this.fragmentFill, chunk.length - at);
      chunk.copy(target, this.fragmentFill, at, at + n);
      this.fragmentFill += n;
      this.chunks.consume(n);
    }
    this.fragment = undefined;
    this.fragmentFill = 0;
    return target;
  }

  private appendToAssembly(body: Buffer): void {
    const needed = this.assemblyLength + body.length;
    if (this.assembly === undefined || this.assembly.length < needed) {
      // Doubling keeps reassembly linear; the cap keeps it under the record limit.
      let size = Math.max(needed, (this.assembly?.length ?? 0) * 2, 256);
      size = Math.min(size, Math.max(needed, this.maxRecordBytes));
      const next = Buffer.allocUnsafe(size);
      if (this.assembly !== undefined) this.assembly.copy(next, 0, 0, this.assemblyLength);
      this.assembly = next;
    }
    body.copy(this.assembly, this.assemblyLength);
    this.assemblyLength = needed;
  }
}

const EMPTY = Buffer.alloc(0);
