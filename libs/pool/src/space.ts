import type { BlockDevice, Space } from './block-device';
import { PoolFullError } from './block-device';
import { PoolError, PoolErrorCode } from './errors';
import type { WriteFence } from './write-fence';

/**
 * A filesystem's address space over its slices.
 *
 * Invariants: logical position p lives in slice floor(p / sliceDataBytes) at offset
 * p mod sliceDataBytes of that slice's data area, so positions never move when the space grows;
 * `slices` is contiguous from index 0 whenever a Space is handed out (openSpace refuses gaps);
 * a device is in `dirty` from the completion of a write to it until a sync that started after
 * that completion has resolved, so `sync()` covers every write that finished before it was called;
 * a durable write that resolved leaves no device dirty (one that failed does: part of it may
 * have reached the device).
 */

/** Where one slice's data lives. */
export interface SliceRef {
  readonly device: BlockDevice;
  readonly deviceIndex: number;
  readonly slot: number;
  /** Device offset of the slice's first data byte (just after its header). */
  readonly dataOffsetBytes: number;
}

/** Pool-side state of one filesystem, shared by every Space opened on it. */
export class FsRecord {
  /** Slices 0..n-1, by index. */
  slices: SliceRef[] = [];
  /**
   * Slices found past a missing index (a device is missing, or damage): never addressed, kept so
   * the filesystem is reported incomplete and destroy can free them.
   */
  readonly orphans = new Map<number, SliceRef>();
  readonly dirty = new Set<BlockDevice>();
  destroyed = false;
  constructor(readonly fsId: bigint) {}

  presentSlices(): number {
    return this.slices.length + this.orphans.size;
  }

  /** The first missing slice index when slices exist beyond it, else undefined. */
  firstMissing(): number | undefined {
    return this.orphans.size > 0 ? this.slices.length : undefined;
  }
}

/** What a Space needs from its pool. */
export interface SpaceHost {
  readonly readOnly: boolean;
  readonly closed: boolean;
  growSpace(fs: FsRecord): Promise<void>;
}

/** `crcs`: a read that also fills the CRC-32C of each 4 KiB block (readWithCrcs). */
type IoOp = 'read' | 'crcs' | 'write' | 'durable';

export class PoolSpace implements Space {
  private fence: WriteFence | undefined;

  constructor(
    private readonly host: SpaceHost,
    private readonly fs: FsRecord,
    readonly sliceDataBytes: number,
    /** The space grows while it is smaller than this (it may end up to one slice larger). */
    readonly maxBytes: number,
  ) {}

  get fsId(): bigint {
    return this.fs.fsId;
  }

  setWriteFence(fence: WriteFence): void {
    this.fence = fence;
  }

  get sliceCount(): number {
    return this.fs.slices.length;
  }

  get sizeBytes(): number {
    return this.fs.slices.length * this.sliceDataBytes;
  }

  async read(buf: Buffer, pos: number): Promise<void> {
    this.check(buf, pos, 'read');
    await this.io(buf, pos, 'read');
  }

  /**
   * read() that also returns each 4096-byte block's CRC-32C, computed in the IO thread, when every
   * device it touches can (FileDevice with the native addon) and the range is whole blocks;
   * otherwise a plain read and undefined.
   */
  async readWithCrcs(buf: Buffer, pos: number): Promise<Uint32Array | undefined> {
    this.check(buf, pos, 'read');
    const sdb = this.sliceDataBytes;
    const slices = this.fs.slices;
    const first = Math.floor(pos / sdb);
    const last = Math.floor((pos + Math.max(1, buf.length) - 1) / sdb);
    let able = buf.length > 0 && pos % 4096 === 0 && buf.length % 4096 === 0 && (first === last || sdb % 4096 === 0);
    for (let k = first; able && k <= last; k++) able = slices[k]!.device.readWithCrcs !== undefined;
    if (!able) {
      await this.io(buf, pos, 'read');
      return undefined;
    }
    const crcs = new Uint32Array(buf.length / 4096);
    await this.io(buf, pos, 'crcs', crcs);
    return crcs;
  }

  async write(buf: Buffer, pos: number): Promise<void> {
    this.check(buf, pos, 'write');
    if (this.host.readOnly) throw new PoolError(PoolErrorCode.READ_ONLY, `filesystem ${this.fs.fsId}: pool is open read-only`);
    await this.io(buf, pos, 'write');
  }

  async writeDurable(buf: Buffer, pos: number): Promise<void> {
    this.check(buf, pos, 'durable write');
    if (this.host.readOnly) throw new PoolError(PoolErrorCode.READ_ONLY, `filesystem ${this.fs.fsId}: pool is open read-only`);
    await this.io(buf, pos, 'durable');
  }

  async sync(): Promise<void> {
    this.checkLive();
    const devices = [...this.fs.dirty];
    this.fs.dirty.clear();
    try {
      await Promise.all(devices.map((d) => d.sync()));
    } catch (err) {
      // The barrier did not happen: every device stays owed a sync.
      for (const d of devices) this.fs.dirty.add(d);
      throw err;
    }
  }

  async grow(): Promise<void> {
    this.checkLive();
    if (this.sizeBytes >= this.maxBytes) {
      throw new PoolFullError(`filesystem ${this.fs.fsId} reached its size limit of ${this.maxBytes} bytes`);
    }
    await this.host.growSpace(this.fs);
  }

  private checkLive(): void {
    if (this.host.closed) throw new PoolError(PoolErrorCode.CLOSED, 'pool is closed');
    if (this.fs.destroyed) throw new PoolError(PoolErrorCode.FS_DESTROYED, `filesystem ${this.fs.fsId} was destroyed`);
  }

  private check(buf: Buffer, pos: number, op: string): void {
    this.checkLive();
    if (!Number.isSafeInteger(pos) || pos < 0 || pos + buf.length > this.sizeBytes) {
      throw new RangeError(`filesystem ${this.fs.fsId}: ${op} of ${buf.length} bytes at ${pos} is beyond the space (${this.sizeBytes} bytes)`);
    }
  }

  /** Splits a request at slice boundaries; `crcs` (op 'crcs') gets the checksums of all of `buf`. */
  private async io(buf: Buffer, pos: number, op: IoOp, crcs?: Uint32Array): Promise<void> {
    if (buf.length === 0) return;
    const sdb = this.sliceDataBytes;
    const slices = this.fs.slices;
    let index = Math.floor(pos / sdb);
    let within = pos - index * sdb;
    if (within + buf.length <= sdb) {
      // Fast path: one slice, no allocation beyond the device call.
      const s = slices[index]!;
      await this.one(s, buf, s.dataOffsetBytes + within, op, crcs, 0);
      return;
    }
    const parts: Array<Promise<void>> = [];
    let done = 0;
    while (done < buf.length) {
      const n = Math.min(sdb - within, buf.length - done);
      const s = slices[index]!;
      parts.push(this.one(s, buf.subarray(done, done + n), s.dataOffsetBytes + within, op, crcs, done / 4096));
      done += n;
      index++;
      within = 0;
    }
    await Promise.all(parts);
  }

  private async one(s: SliceRef, buf: Buffer, devicePos: number, op: IoOp, crcs: Uint32Array | undefined, crcAt: number): Promise<void> {
    if (op === 'read') return s.device.read(buf, devicePos);
    if (op === 'crcs') {
      crcs!.set(await s.device.readWithCrcs!(buf, devicePos), crcAt);
      return;
    }
    if (op === 'durable') {
      try {
        await s.device.writeDurable(buf, devicePos, this.fence);
      } catch (err) {
        this.fs.dirty.add(s.device);
        throw err;
      }
      return;
    }
    try {
      await s.device.write(buf, devicePos, this.fence);
    } finally {
      // Even a failed write may have reached the device in part, so it is owed a sync too.
      this.fs.dirty.add(s.device);
    }
  }
}

