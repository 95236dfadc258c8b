/**
 * The pool's native addon (native/fenced_io.c, N-API, built by `npm run build:native`): a write
 * that checks a fence deadline in the IO thread (write-fence.ts), and a read that computes the
 * CRC-32C of each 4 KiB block in the IO thread (FileDevice.readWithCrcs), and the same read done
 * at once from the page cache when all of it is there (small reads).
 *
 * Invariants: loaded on first use, from next to the compiled library (dist) or from the build
 * directory (sources run by the tests); a missing addon is an error when a fence needs it, and
 * makes readWithCrcs unavailable (the engine then checksums on the event loop).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface NativeIo {
  fencedWrite(fd: number, buf: Buffer, position: number, cell: Buffer): Promise<number>;
  /** 0, -2 at end of file, else errno; `crcs` gets one native-order u32 per 4096-byte block. */
  readCrcs(fd: number, buf: Buffer, position: number, crcs: Buffer): Promise<number>;
  /** readCrcs done now from the page cache only (RWF_NOWAIT): 0 done, 1 not all cached,
   * 3 RWF_NOWAIT not offered here, -2 end of file, else errno. */
  readCrcsCached(fd: number, buf: Buffer, position: number, crcs: Buffer): number;
  crc32c(buf: Buffer): number;
  monotonicNs(): bigint;
}

let native: NativeIo | undefined;
let missing: string | undefined;

const CANDIDATES = [join(__dirname, '..', 'native', 'fenced_io.node'), join(__dirname, '..', 'native', 'build', 'Release', 'fenced_io.node')];

/** The addon; throws when it is not built. */
export function nativeIo(): NativeIo {
  const io = optionalNativeIo();
  if (io === undefined) throw new Error(missing);
  return io;
}

/** The addon, or undefined when it is not built. */
export function optionalNativeIo(): NativeIo | undefined {
  if (native || missing) return native;
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found === undefined) {
    missing = `the pool's native addon is not built (looked for ${CANDIDATES.join(', ')}): run "npm run build:native"`;
    return undefined;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  native = require(found) as NativeIo;
  return native;
}
