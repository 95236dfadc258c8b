import { FenceClosedError, type WriteFence } from '../write-fence';
import type { BlockDevice } from '../block-device';
import { MemoryDevice } from '../memory-device';

/**
 * A BlockDevice for crash tests: it keeps the durable image (what survives a power cut) apart
 * from the writes made since the last completed sync, and can produce the image a crash would
 * leave behind.
 *
 * Invariants: reads see every completed write (the live image); `durable` equals the live image
 * minus the volatile writes in `pending`; a sync moves exactly the writes that had completed when
 * it was called from `pending` into `durable`; a durable write is volatile (in `pending`, may be
 * dropped or torn) while in flight and in `durable` once it resolves, and makes nothing else
 * durable; sectors (512 bytes) are the unit of atomicity, so a torn write keeps a prefix of whole
 * sectors and never half a sector.
 *
 * A durable write stays in `pending`, marked durable, while older volatile writes precede it:
 * a crash image replays the pending writes in order, so an older volatile write that is kept
 * can never come back over the newer durable bytes (a disk cannot revert a sector to older
 * contents once newer ones were made durable).
 */

export const SECTOR_BYTES = 512;

export interface CrashDeviceOptions {
  path?: string;
  /** The Nth write (1-based, counted from construction) fails with EIO and is not applied. */
  failAtWrite?: number;
  /** The Nth sync (1-based) fails with EIO; nothing becomes durable. */
  failAtSync?: number;
  /** After the first injected failure every later write and sync fails too (a dead device). */
  sticky?: boolean;
}

/** The injected I/O error; `code` is 'EIO' like the errno a real device would give. */
export class DeviceFaultError extends Error {
  readonly code = 'EIO';
  constructor(message: string) {
    super(message);
    this.name = 'DeviceFaultError';
  }
}

interface PendingWrite {
  pos: number;
  data: Buffer;
  /** Order of completion among writes (what a sync covers). */
  seq: number;
  /** A writeDurable that resolved: always in the crash image, never counted as unsynced. */
  durable: boolean;
}

export type CrashFate = 'kept' | 'dropped' | 'torn';

export class CrashDevice implements BlockDevice {
  readonly path: string;
  readonly sizeBytes: number;
  /** What reads see. */
  private readonly live: Buffer;
  /** What is certain to survive a crash. */
  private readonly durable: Buffer;
  private pending: PendingWrite[] = [];
  private seq = 0;
  /** Write and sync calls so far (including failed ones): the N of failAtWrite / failAtSync. */
  writeCount = 0;
  syncCount = 0;
  failAtWrite: number | undefined;
  failAtSync: number | undefined;
  private readonly sticky: boolean;
  private dead = false;

  /** Starts from a copy of `base` (its bytes are taken as durable) or from zeros of a size. */
  constructor(base: MemoryDevice | number, opts: CrashDeviceOptions = {}) {
    if (typeof base === 'number') {
      this.sizeBytes = base;
      this.live = Buffer.alloc(base);
    } else {
      this.sizeBytes = base.sizeBytes;
      this.live = Buffer.from(base.data);
    }
    this.durable = Buffer.from(this.live);
    this.path = opts.path ?? (typeof base === 'number' ? 'crash' : base.path);
    this.failAtWrite = opts.failAtWrite;
    this.failAtSync = opts.failAtSync;
    this.sticky = opts.sticky ?? false;
  }

  /** Writes completed since the last completed sync (each may be lost in a crash). */
  get unsyncedWrites(): number {
    let n = 0;
    for (const w of this.pending) if (!w.durable) n++;
    return n;
  }

  async read(buf: Buffer, pos: number): Promise<void> {
    this.check(buf, pos, 'read');
    this.live.copy(buf, 0, pos, pos + buf.length);
  }

  async write(buf: Buffer, pos: number, fence?: WriteFence): Promise<void> {
    if (fence && !fence.isOpenNow()) throw new FenceClosedError();
    this.land(buf, pos, 'write');
  }

  /** Counted as a write (failAtWrite applies); durable only once it resolves. */
  async writeDurable(buf: Buffer, pos: number, fence?: WriteFence): Promise<void> {
    if (fence && !fence.isOpenNow()) throw new FenceClosedError();
    const w = this.land(buf, pos, 'durable write');
    // In flight: a crash image taken now may drop or tear it.
    await Promise.resolve();
    if (!this.pending.includes(w)) return; // a sync meanwhile made it durable already
    w.data.copy(this.durable, w.pos);
    w.durable = true;
    // It needs to stay only behind an older volatile write (see the header).
    let i = 0;
    while (i < this.pending.length && this.pending[i]!.durable) i++;
    if (i > 0) this.pending = this.pending.slice(i);
  }

  private land(buf: Buffer, pos: number, what: string): PendingWrite {
    this.check(buf, pos, what);
    this.writeCount++;
    if (this.dead || this.writeCount === this.failAtWrite) {
      this.dead ||= this.sticky;
      throw new DeviceFaultError(`${this.path}: injected EIO on ${what} #${this.writeCount} (${buf.length} bytes at ${pos})`);
    }
    buf.copy(this.live, pos);
    const w: PendingWrite = { pos, data: Buffer.from(buf), seq: ++this.seq, durable: false };
    this.pending.push(w);
    return w;
  }

  async sync(): Promise<void> {
    this.syncCount++;
    if (this.dead || this.syncCount === this.failAtSync) {
      this.dead ||= this.sticky;
      throw new DeviceFaultError(`${this.path}: injected EIO on sync #${this.syncCount}`);
    }
    // Only writes completed before the call are covered; yield so callers can interleave.
    const upTo = this.seq;
    await Promise.resolve();
    const rest: PendingWrite[] = [];
    for (const w of this.pending) {
      if (w.seq <= upTo) w.data.copy(this.durable, w.pos);
      else rest.push(w);
    }
    // A newer durable write wins over the older writes just made durable.
    for (const w of rest) if (w.durable) w.data.copy(this.durable, w.pos);
    this.pending = rest;
  }

  async close(): Promise<void> {}

  /**
   * The image a power cut would leave now: the durable image, then each unsynced write in
   * order, each kept, dropped, or torn (a prefix of whole sectors kept), chosen by `rng`
   * (values in [0, 1)). The device itself is unchanged, so one run can try many crashes.
   * `onFate` hears each unsynced write's fate (index among the unsynced writes) and how many of
   * its leading bytes were kept. A resolved durable write is always kept and draws no number.
   */
  crash(rng: () => number, onFate?: (index: number, fate: CrashFate, keptBytes: number) => void): MemoryDevice {
    const image = new MemoryDevice(this.sizeBytes, this.path);
    this.durable.copy(image.data);
    let i = 0;
    for (const w of this.pending) {
      if (w.durable) {
        w.data.copy(image.data, w.pos);
        continue;
      }
      const r = rng();
      const firstCut = (Math.floor(w.pos / SECTOR_BYTES) + 1) * SECTOR_BYTES;
      const end = w.pos + w.data.length;
      const cuts = firstCut < end ? Math.ceil((end - firstCut) / SECTOR_BYTES) : 0;
      const fate: CrashFate = r < 1 / 3 ? 'kept' : r < 2 / 3 || cuts === 0 ? 'dropped' : 'torn';
      let keptBytes = 0;
      if (fate === 'kept') keptBytes = w.data.length;
      else if (fate === 'torn') keptBytes = firstCut + Math.min(cuts - 1, Math.floor(rng() * cuts)) * SECTOR_BYTES - w.pos;
      w.data.copy(image.data, w.pos, 0, keptBytes);
      onFate?.(i++, fate, keptBytes);
    }
    return image;
  }

  /** The image if every unsynced write were lost. */
  durableImage(): MemoryDevice {
    const image = new MemoryDevice(this.sizeBytes, this.path);
    this.durable.copy(image.data);
    return image;
  }

  /** The image if every unsynced write reached the disk (same bytes reads see now). */
  liveImage(): MemoryDevice {
    const image = new MemoryDevice(this.sizeBytes, this.path);
    this.live.copy(image.data);
    return image;
  }

  private check(buf: Buffer, pos: number, op: string): void {
    if (!Number.isSafeInteger(pos) || pos < 0 || pos + buf.length > this.sizeBytes) {
      throw new RangeError(`${this.path}: ${op} of ${buf.length} bytes at ${pos} is outside the device (${this.sizeBytes} bytes)`);
    }
  }
}
