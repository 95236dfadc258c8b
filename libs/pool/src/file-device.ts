import { constants as fsConstants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { BlockDevice } from './block-device';
import { PoolError, PoolErrorCode } from './errors';
import { nativeIo, optionalNativeIo, type NativeIo } from './native-io';
import { FenceClosedError, type WriteFence } from './write-fence';
import { getSystemErrorName } from 'node:util';

/**
 * A BlockDevice over a regular file or a block device.
 *
 * Invariants: the size is fixed at open (a file that grows later is not seen; a block device is
 * measured once); every read and write stays inside [0, sizeBytes); reads and writes loop until
 * every byte moved, because positional I/O may be short; `sync()` is fdatasync, the only
 * durability barrier. `writeDurable` goes through a second descriptor of the same file opened
 * O_DSYNC: each pwrite returns once its bytes (and the metadata needed to read them back) are
 * on stable storage, and it flushes nothing else, so a log write costs one thread-pool round
 * trip instead of two. Both descriptors share the page cache, so reads see either's writes.
 */
export interface FileDeviceOptions {
  /**
   * Create the file when it does not exist, sparse, with this size (ftruncate). An existing
   * path is opened as it is: never truncated or resized, so creating can not destroy data.
   */
  create?: { sizeBytes: number };
  readOnly?: boolean;
}

const SECTOR_BYTES = 512;
/** Reads up to this size try the page cache on the calling thread first (readCrcsCached): past
 * it, copying and checksumming on the event loop would cost more than the round trip saves. */
const CACHED_READ_MAX_BYTES = 32 * 1024;

function deviceError(path: string, what: string, cause: unknown): PoolError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new PoolError(PoolErrorCode.DEVICE_ERROR, `${what}: ${detail}`, path, { cause });
}

export class FileDevice implements BlockDevice {
  private closed = false;
  /**
   * Native requests in flight. They use the descriptors' numbers, which FileHandle does not
   * count as busy, so close() waits for them: a number closed and reused by another open while a
   * pwrite is queued would write into the wrong file.
   */
  private nativeInFlight = 0;
  private nativeDone: Array<() => void> = [];
  /** Small reads try the page cache first (until the kernel says it cannot: RWF_NOWAIT). */
  private cachedReads = true;
  /** Present when the native addon is built (native-io.ts). */
  readonly readWithCrcs?: (buf: Buffer, pos: number) => Promise<Uint32Array>;

  private constructor(
    readonly path: string,
    readonly sizeBytes: number,
    readonly readOnly: boolean,
    private readonly handle: FileHandle,
    /** O_DSYNC descriptor for writeDurable; undefined when read-only or the OS has no O_DSYNC. */
    private readonly dsync: FileHandle | undefined,
  ) {
    const io = optionalNativeIo();
    if (io) this.readWithCrcs = (buf, pos) => this.readCrcs(io, buf, pos);
  }

  private async readCrcs(io: NativeIo, buf: Buffer, pos: number): Promise<Uint32Array> {
    this.check(buf, pos, 'read');
    if (buf.length % 4096 !== 0) throw new RangeError(`readWithCrcs of ${buf.length} bytes: not whole 4096-byte blocks`);
    const blocks = buf.length / 4096;
    const out = Buffer.allocUnsafeSlow(blocks * 4);
    // A small read whose blocks are all in the page cache is copied now: cheaper for the event
    // loop than a pool thread's round trip. Anything else (not cached, an error) goes through
    // the pool, which also reports the error.
    let status = 1;
    if (this.cachedReads && buf.length <= CACHED_READ_MAX_BYTES) {
      status = io.readCrcsCached(this.handle.fd, buf, pos, out);
      if (status === 3) this.cachedReads = false;
    }
    if (status !== 0) status = await this.native(io.readCrcs(this.handle.fd, buf, pos, out));
    if (status === -2) throw new PoolError(PoolErrorCode.DEVICE_ERROR, `short read at ${pos}: the device ends before its recorded size ${this.sizeBytes}`, this.path);
    if (status !== 0) {
      const name = getSystemErrorName(-status);
      throw deviceError(this.path, `read of ${buf.length} bytes at ${pos} failed`, Object.assign(new Error(`${name}: read failed`), { code: name, errno: -status }));
    }
    return new Uint32Array(out.buffer, out.byteOffset, blocks);
  }

  static async open(path: string, opts: FileDeviceOptions = {}): Promise<FileDevice> {
    const readOnly = opts.readOnly ?? false;
    const create = opts.create;
    if (create !== undefined) {
      if (readOnly) throw new PoolError(PoolErrorCode.INVALID_ARGUMENT, 'cannot create a device read-only', path);
      if (!Number.isSafeInteger(create.sizeBytes) || create.sizeBytes <= 0) {
        throw new PoolError(PoolErrorCode.INVALID_ARGUMENT, `bad size to create: ${create.sizeBytes}`, path);
      }
    }
    let handle: FileHandle | undefined;
    let dsync: FileHandle | undefined;
    try {
      handle = await openHandle(path, readOnly, create);
      const st = await handle.stat();
      let sizeBytes: number;
      if (st.isFile()) sizeBytes = st.size;
      else if (st.isBlockDevice()) sizeBytes = await probeSizeBytes(handle);
      else throw new PoolError(PoolErrorCode.DEVICE_ERROR, 'not a regular file or a block device', path);
      // Never O_CREAT here: the file the first descriptor opened exists, and is what we size.
      if (!readOnly && fsConstants.O_DSYNC !== undefined) dsync = await fsp.open(path, fsConstants.O_WRONLY | fsConstants.O_DSYNC);
      return new FileDevice(path, sizeBytes, readOnly, handle, dsync);
    } catch (err) {
      await dsync?.close().catch(() => undefined);
      await handle?.close().catch(() => undefined);
      if (err instanceof PoolError) throw err;
      throw deviceError(path, 'cannot open device', err);
    }
  }

  async read(buf: Buffer, pos: number): Promise<void> {
    this.check(buf, pos, 'read');
    let done = 0;
    while (done < buf.length) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.handle.read(buf, done, buf.length - done, pos + done));
      } catch (err) {
        throw deviceError(this.path, `read of ${buf.length} bytes at ${pos} failed`, err);
      }
      if (n === 0) {
        throw new PoolError(PoolErrorCode.DEVICE_ERROR, `short read at ${pos + done}: the device ends before its recorded size ${this.sizeBytes}`, this.path);
      }
      done += n;
    }
  }

  async write(buf: Buffer, pos: number, fence?: WriteFence): Promise<void> {
    this.check(buf, pos, 'write');
    if (this.readOnly) throw new PoolError(PoolErrorCode.READ_ONLY, 'device is open read-only', this.path);
    await this.writeAll(this.handle, buf, pos, 'write', fence);
  }

  async writeDurable(buf: Buffer, pos: number, fence?: WriteFence): Promise<void> {
    this.check(buf, pos, 'durable write');
    if (this.readOnly) throw new PoolError(PoolErrorCode.READ_ONLY, 'device is open read-only', this.path);
    if (this.dsync) return this.writeAll(this.dsync, buf, pos, 'durable write', fence);
    // No O_DSYNC on this OS: write + fdatasync, durable too (and a barrier for more than asked).
    await this.writeAll(this.handle, buf, pos, 'durable write', fence);
    await this.sync();
  }

  private async writeAll(handle: FileHandle, buf: Buffer, pos: number, what: string, fence?: WriteFence): Promise<void> {
    if (fence) {
      // The fence is checked in the IO thread before each pwrite (native/fenced_io.c).
      const status = await this.native(nativeIo().fencedWrite(handle.fd, buf, pos, fence.cell));
      if (status === -1) throw new FenceClosedError();
      if (status !== 0) {
        const name = getSystemErrorName(-status);
        throw deviceError(this.path, `${what} of ${buf.length} bytes at ${pos} failed`, Object.assign(new Error(`${name}: ${what} failed`), { code: name, errno: -status }));
      }
      return;
    }
    let done = 0;
    while (done < buf.length) {
      let n: number;
      try {
        ({ bytesWritten: n } = await handle.write(buf, done, buf.length - done, pos + done));
      } catch (err) {
        throw deviceError(this.path, `${what} of ${buf.length} bytes at ${pos} failed`, err);
      }
      if (n === 0) throw new PoolError(PoolErrorCode.DEVICE_ERROR, `${what} made no progress at ${pos + done}`, this.path);
      done += n;
    }
  }

  async sync(): Promise<void> {
    if (this.closed) throw new PoolError(PoolErrorCode.CLOSED, 'device is closed', this.path);
    if (this.readOnly) return;
    try {
      await this.handle.datasync();
    } catch (err) {
      throw deviceError(this.path, 'sync failed', err);
    }
  }

  private native<T>(request: Promise<T>): Promise<T> {
    this.nativeInFlight++;
    return request.finally(() => {
      if (--this.nativeInFlight === 0) for (const done of this.nativeDone.splice(0)) done();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.nativeInFlight > 0) await new Promise<void>((resolve) => this.nativeDone.push(resolve));
    const [a, b] = await Promise.allSettled([this.handle.close(), this.dsync?.close()]);
    const bad = a.status === 'rejected' ? a : b.status === 'rejected' ? b : undefined;
    if (bad) throw deviceError(this.path, 'close failed', bad.reason);
  }

  private check(buf: Buffer, pos: number, op: string): void {
    if (this.closed) throw new PoolError(PoolErrorCode.CLOSED, 'device is closed', this.path);
    if (!Number.isSafeInteger(pos) || pos < 0 || pos + buf.length > this.sizeBytes) {
      throw new RangeError(`${this.path}: ${op} of ${buf.length} bytes at ${pos} is outside the device (${this.sizeBytes} bytes)`);
    }
  }
}

async function openHandle(path: string, readOnly: boolean, create: { sizeBytes: number } | undefined): Promise<FileHandle> {
  if (readOnly) return fsp.open(path, fsConstants.O_RDONLY);
  if (create === undefined) return fsp.open(path, fsConstants.O_RDWR);
  try {
    // O_EXCL: only a file we made ourselves is sized; an existing one is left exactly as it is.
    const h = await fsp.open(path, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      await h.truncate(create.sizeBytes);
    } catch (err) {
      await h.close().catch(() => undefined);
      throw err;
    }
    return h;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return fsp.open(path, fsConstants.O_RDWR);
  }
}

/**
 * Size of a block device: fstat reports 0 for them and Node has no lseek, so find the last
 * readable sector by doubling then bisection (about 2 x log2(sectors) one-byte reads).
 * Exported for tests, which run it over a regular file.
 */
export async function probeSizeBytes(handle: FileHandle): Promise<number> {
  const one = Buffer.alloc(1);
  const readable = async (sector: number): Promise<boolean> => (await handle.read(one, 0, 1, sector * SECTOR_BYTES)).bytesRead === 1;
  if (!(await readable(0))) return 0;
  let lo = 0; // readable
  let hi = 1; // first candidate that may be unreadable
  while (await readable(hi)) {
    lo = hi;
    hi *= 2;
    if (hi * SECTOR_BYTES > Number.MAX_SAFE_INTEGER) throw new RangeError('block device larger than 2^53 bytes');
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (await readable(mid)) lo = mid;
    else hi = mid;
  }
  return (lo + 1) * SECTOR_BYTES;
}
