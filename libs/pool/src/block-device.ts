import type { WriteFence } from './write-fence';

/**
 * A block device as the pool sees it: a fixed-size byte range with positional I/O and a
 * durability barrier. Implementations: a regular file or a block device (file-device.ts), and
 * in tests memory and crash-simulating wrappers.
 *
 * Contract: a write is durable only after a later `sync()` resolves, or once `writeDurable()`
 * resolves for that write alone; a crash may drop or tear any other write not covered by a
 * completed sync. Reads see every completed write, whichever call made it.
 */
export interface BlockDevice {
  readonly path: string;
  readonly sizeBytes: number;
  /** Reads exactly buf.length bytes at `pos` (throws on a short read inside the device). */
  read(buf: Buffer, pos: number): Promise<void>;
  /**
   * Optional: read() that also returns the CRC-32C of each 4096-byte block of `buf` (whose
   * length is a multiple of 4096), computed off the event loop.
   */
  readWithCrcs?(buf: Buffer, pos: number): Promise<Uint32Array>;
  /**
   * With a fence, each piece of the write starts only while the fence is open, checked when it
   * starts (FenceClosedError otherwise; see write-fence.ts).
   */
  write(buf: Buffer, pos: number, fence?: WriteFence): Promise<void>;
  /**
   * A write that is durable when it resolves (one device round trip instead of write + sync;
   * a file opened O_DSYNC). It is no barrier: other writes not covered by a completed sync stay
   * as volatile as they were (a device may happen to persist them, nobody may count on it).
   * While it is in flight a crash may drop or tear it like any write.
   */
  writeDurable(buf: Buffer, pos: number, fence?: WriteFence): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A filesystem's address space: the concatenation of the slices the pool gave it, in slice
 * order. Logical positions are stable (slice k's data covers [k*sliceDataBytes,
 * (k+1)*sliceDataBytes): headers take no logical space, see FORMAT.md), so metadata can store them.
 */
export interface Space {
  /** Bytes currently addressable (number of slices x usable bytes per slice). */
  readonly sizeBytes: number;
  /** Usable bytes in one slice (the slice minus its header). */
  readonly sliceDataBytes: number;
  read(buf: Buffer, pos: number): Promise<void>;
  /**
   * Optional: read() of whole 4096-byte blocks that also returns each block's CRC-32C, computed
   * off the event loop where the devices can; undefined when they cannot (the caller computes).
   */
  readWithCrcs?(buf: Buffer, pos: number): Promise<Uint32Array | undefined>;
  write(buf: Buffer, pos: number): Promise<void>;
  /** Durable when it resolves, and no barrier for other writes: see BlockDevice.writeDurable. */
  writeDurable(buf: Buffer, pos: number): Promise<void>;
  /** A barrier over every device this space touches. */
  sync(): Promise<void>;
  /**
   * From now on every write and durable write of this space reaches its devices only while
   * `fence` is open, checked in the IO thread as each write starts (write-fence.ts). Spaces
   * that cannot enforce it leave the method out.
   */
  setWriteFence?(fence: WriteFence): void;
  /**
   * Take one more slice from the pool (durably recorded on the slice before it resolves).
   * Throws PoolFullError when the pool or the filesystem's size limit has no room.
   */
  grow(): Promise<void>;
}

export class PoolFullError extends Error {
  constructor(message = 'no free slice in the pool') {
    super(message);
    this.name = 'PoolFullError';
  }
}
