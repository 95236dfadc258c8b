import type { Space } from '@ferry/pool';
import { PoolFullError } from '@ferry/pool';

/**
 * A Space in memory, for tests only: slices of `sliceDataBytes`, growable up to `maxSlices`.
 * Counts reads, writes and syncs (bytes too) so tests can assert on I/O, never on time.
 */
export class MemorySpace implements Space {
  readonly slices: Buffer[] = [];
  bytesRead = 0;
  reads = 0;
  writes = 0;
  syncs = 0;
  durableWrites = 0;
  /** Every read as [pos, length] while `traceReads` is on. */
  readTrace: Array<[number, number]> = [];
  traceReads = false;

  constructor(
    readonly sliceDataBytes: number,
    initialSlices = 1,
    readonly maxSlices = Number.MAX_SAFE_INTEGER,
  ) {
    for (let i = 0; i < initialSlices; i++) this.slices.push(Buffer.alloc(sliceDataBytes));
  }

  get sizeBytes(): number {
    return this.slices.length * this.sliceDataBytes;
  }

  protected check(pos: number, len: number, what: string): void {
    if (!Number.isSafeInteger(pos) || pos < 0 || pos + len > this.sizeBytes)
      throw new RangeError(`${what} beyond the space: ${pos}+${len} of ${this.sizeBytes}`);
  }

  /** Copy between the slices and `buf`, splitting at slice boundaries. */
  protected copy(buf: Buffer, pos: number, toSpace: boolean, slices = this.slices): void {
    let done = 0;
    while (done < buf.length) {
      const at = pos + done;
      const si = Math.floor(at / this.sliceDataBytes);
      const off = at % this.sliceDataBytes;
      const n = Math.min(buf.length - done, this.sliceDataBytes - off);
      const slice = slices[si]!;
      if (toSpace) buf.copy(slice, off, done, done + n);
      else slice.copy(buf, done, off, off + n);
      done += n;
    }
  }

  async read(buf: Buffer, pos: number): Promise<void> {
    this.check(pos, buf.length, 'read');
    this.reads++;
    this.bytesRead += buf.length;
    if (this.traceReads) this.readTrace.push([pos, buf.length]);
    this.copy(buf, pos, false);
  }

  async write(buf: Buffer, pos: number): Promise<void> {
    this.check(pos, buf.length, 'write');
    this.writes++;
    this.copy(buf, pos, true);
  }

  /** Counted in `writes` and in `durableWrites` (nothing here is volatile). */
  async writeDurable(buf: Buffer, pos: number): Promise<void> {
    await this.write(buf, pos);
    this.durableWrites++;
  }

  async sync(): Promise<void> {
    this.syncs++;
  }

  async grow(): Promise<void> {
    if (this.slices.length >= this.maxSlices) throw new PoolFullError();
    this.slices.push(Buffer.alloc(this.sliceDataBytes));
  }
}
