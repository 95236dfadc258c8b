import type { BlockDevice } from '../block-device';
import { MemoryDevice } from '../memory-device';

/**
 * A BlockDevice for crash tests: it keeps the durable image (what survives a power cut) apart
 * from the writes made since the last completed sync, and can produce the image a crash would
 * leave behind.
 *
 * Invariants: reads see every completed write (the live image); `durable` equals the live image
 * minus the writes in `pending`; a sync moves exactly the writes that had completed when it was
 * called from `pending` into `durable`; sectors (512 bytes) are the unit of atomicity, so a torn
 * write keeps a prefix of whole sectors and never half a sector.
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
    return this.pending.length;
  }

  async read(buf: Buffer, pos: number): Promise<void> {
    this.check(buf, pos, 'read');
    this.live.copy(buf, 0, pos, pos + buf.length);
  }

  async write(buf: Buffer, pos: number): Promise<void> {
    this.check(buf, pos, 'write');
    this.writeCount++;
    if (this.dead || this.writeCount === this.failAtWrite) {
      this.dead ||= this.sticky;
      throw new DeviceFaultError(`${this.path}: injected EIO on write #${this.writeCount} (${buf.length} bytes at ${pos})`);
    }
    buf.copy(this.live, pos);
    this.pending.push({ pos, data: Buffer.from(buf) });
  }

  async sync(): Promise<void> {
    this.syncCount++;
    if (this.dead || this.syncCount === this.failAtSync) {
      this.dead ||= this.sticky;
      throw new DeviceFaultError(`${this.path}: injected EIO on sync #${this.syncCount}`);
    }
    // Only writes completed before the call are covered; yield so callers can interleave.
    const covered = this.pending.length;
    await Promise.resolve();
    for (let i = 0; i < covered; i++) {
      const w = this.pending[i]!;
      w.data.copy(this.durable, w.pos);
    }
    this.pending = this.pending.slice(covered);
  }

  async close(): Promise<void> {}

  /**
   * The image a power cut would leave now: the durable image, then each unsynced write in
   * order, each kept, dropped, or torn (a prefix of whole sectors kept), chosen by `rng`
   * (values in [0, 1)). The device itself is unchanged, so one run can try many crashes.
   * `onFate` hears each unsynced write's fate and how many of its leading bytes were kept.
   */
  crash(rng: () => number, onFate?: (index: number, fate: CrashFate, keptBytes: number) => void): MemoryDevice {
    const image = new MemoryDevice(this.sizeBytes, this.path);
    this.durable.copy(image.data);
    this.pending.forEach((w, i) => {
      const r = rng();
      const firstCut = (Math.floor(w.pos / SECTOR_BYTES) + 1) * SECTOR_BYTES;
      const end = w.pos + w.data.length;
      const cuts = firstCut < end ? Math.ceil((end - firstCut) / SECTOR_BYTES) : 0;
      const fate: CrashFate = r < 1 / 3 ? 'kept' : r < 2 / 3 || cuts === 0 ? 'dropped' : 'torn';
      let keptBytes = 0;
      if (fate === 'kept') keptBytes = w.data.length;
      else if (fate === 'torn') keptBytes = firstCut + Math.min(cuts - 1, Math.floor(rng() * cuts)) * SECTOR_BYTES - w.pos;
      w.data.copy(image.data, w.pos, 0, keptBytes);
      onFate?.(i, fate, keptBytes);
    });
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
