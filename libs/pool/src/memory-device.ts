import type { BlockDevice } from './block-device';
import { FenceClosedError, type WriteFence } from './write-fence';

/** A BlockDevice in memory, for unit tests only (never served). */
export class MemoryDevice implements BlockDevice {
  readonly data: Buffer;
  constructor(
    readonly sizeBytes: number,
    readonly path = 'memory',
  ) {
    this.data = Buffer.alloc(sizeBytes);
  }
  async read(buf: Buffer, pos: number): Promise<void> {
    if (pos < 0 || pos + buf.length > this.sizeBytes) throw new RangeError(`read beyond device: ${pos}+${buf.length}`);
    this.data.copy(buf, 0, pos, pos + buf.length);
  }
  async write(buf: Buffer, pos: number, fence?: WriteFence): Promise<void> {
    if (fence && !fence.isOpenNow()) throw new FenceClosedError();
    if (pos < 0 || pos + buf.length > this.sizeBytes) throw new RangeError(`write beyond device: ${pos}+${buf.length}`);
    buf.copy(this.data, pos);
  }
  /** Nothing here is volatile (CrashDevice models durability). */
  writeDurable(buf: Buffer, pos: number, fence?: WriteFence): Promise<void> {
    return this.write(buf, pos, fence);
  }
  async sync(): Promise<void> {}
  async close(): Promise<void> {}
}
