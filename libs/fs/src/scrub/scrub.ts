/**
 * Online scrub: reads every data block of a live, mounted filesystem and verifies the crc32c its
 * extent records (FORMAT-engine.md "Extent"), then (on a MetaVolume) every metadata page of the
 * last checkpointed tree (their own crc32c, FORMAT-meta.md).
 *
 * Invariants:
 * - The scrub never writes and never holds an engine lock across a batch: it scans a bounded
 *   batch of extent records, reads their blocks straight from the volume one piece of at most
 *   `readBlocks` at a time, verifies them, and yields to the event loop before the next batch,
 *   so an NFS call waits behind at most one scrub read and its checksums (measured: a 4 KiB
 *   engine read during a scrub p50 125 us with 256 KiB pieces, 767 us with whole batches read
 *   in parallel; the scrub alone ~1.9 GB/s from a warm page cache).
 * - Damage is reported only after a re-check under the engine's own file lock: a block that
 *   failed the unlocked pass is read again through `FileSystem.read` (shared file lock, checksum
 *   verified by the engine). Data is copy-on-write, so a block a file names under its lock cannot
 *   change; a block that was rewritten, truncated or freed (and maybe reused) since the unlocked
 *   read is therefore not a false positive: the re-read succeeds (or the file is gone).
 *   A block the write buffer is about to replace reads from the buffer and is not reported.
 * - Cancellation (AbortSignal) is checked between batches and rejects with an AbortError.
 * - With `maxBytesPerSecond`, every device read (data pieces, and metadata pages in groups) first
 *   waits its turn at a RateLimiter, so the scrub's average stays under the limit and a scrub
 *   slowed by client I/O never catches up in a burst; a wait ends at once when cancelled.
 */
import { crc32c } from '@node-rs/crc32';
import { FsError, FsErrorCode, type FileSystem } from '../api';
import { BLOCK_BYTES, KeyPrefix, decodeInode, extentBlockCount, extentCrc, extentKeyFileBlock, extentVolBlock, inodeKey, prefixRange } from '../engine/layout';
import { PAGE_BYTES } from '../meta/layout';
import { MetaVolume } from '../meta/meta-volume';
import type { Volume } from '../meta/volume';
import { scrubMetadataPages } from './pages';
import { RateLimiter, abortableSleep } from './rate-limiter';

export interface ScrubProgress {
  (done: number, total: number, detail: { phase: 'count' | 'metadata' | 'data'; damaged: number; pagesChecked: number }): void;
}

export interface ScrubOptions {
  onProgress?: ScrubProgress;
  signal?: AbortSignal;
  /** Data blocks read per batch before yielding (default 1024 = 4 MiB). */
  batchBlocks?: number;
  /** Device reads the scrub has in flight at once (default 1). */
  readsInFlight?: number;
  /** Most blocks per device read (default 64 = 256 KiB): bounds how long an NFS call waits
   * behind one scrub read and the checksums that follow it. */
  readBlocks?: number;
  /** Stop listing damage beyond this many blocks (the count goes on). Default 10 000. */
  maxDamaged?: number;
  /** Verify the metadata pages too (MetaVolume only; default true). */
  metadata?: boolean;
  /** Average device read rate the scrub keeps under; 0 or unset = unlimited. */
  maxBytesPerSecond?: number;
  /** Monotonic ms and an abortable sleep for the rate limit (default: the process's timers). */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface ScrubDamage {
  /** Inode number of the file, or "metadata" for a tree page. */
  ino: string;
  /** Byte offset in the file (data), or the page's byte address on the volume (metadata). */
  offset: number;
  reason: string;
}

export interface ScrubResult {
  blocksChecked: number;
  bytesChecked: number;
  pagesChecked: number;
  damagedCount: number;
  damaged: ScrubDamage[];
  /** Blocks whose unlocked read mismatched but that the locked re-check found rewritten. */
  recheckedClean: number;
  /** Time spent waiting for the rate limit. */
  throttledMs: number;
}

/** Extent records scanned per volume.scan call: bounds the synchronous work of one scan. */
const SCAN_KEYS = 512;

interface ExtentRow {
  ino: bigint;
  fileBlock: number;
  volBlock: number;
  count: number;
  value: Buffer;
}

export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const e = new Error('scrub cancelled');
  e.name = 'AbortError';
  if (reason !== undefined) (e as Error & { cause?: unknown }).cause = reason;
  return e;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The key right after `key` in memcmp order (resume point of a batched scan). */
function after(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.of(0)]);
}

/** Up to `maxKeys` extent records from `from`, and the resume key (undefined at the end). Copies
 * what it keeps: a scanned key or value may be a view into a page that changes later. */
async function scanExtents(volume: Volume, from: Buffer, maxKeys: number, maxBlocks: number): Promise<{ rows: ExtentRow[]; next: Buffer | undefined }> {
  const [, end] = prefixRange(KeyPrefix.EXTENT);
  const rows: ExtentRow[] = [];
  let blocks = 0;
  let last: Buffer | undefined;
  await volume.scan(from, end, (k, v) => {
    const value = Buffer.from(v);
    const count = extentBlockCount(value);
    rows.push({ ino: k.readBigUInt64BE(1), fileBlock: extentKeyFileBlock(k), volBlock: extentVolBlock(value), count, value });
    blocks += count;
    last = Buffer.from(k);
    return rows.length < maxKeys && blocks < maxBlocks;
  });
  const full = rows.length >= maxKeys || blocks >= maxBlocks;
  return { rows, next: full && last ? after(last) : undefined };
}

export async function scrubFileSystem(volume: Volume, fs: FileSystem, opts: ScrubOptions = {}): Promise<ScrubResult> {
  const signal = opts.signal;
  const check = (): void => {
    if (signal?.aborted) throw abortError(signal);
  };
  const batchBlocks = Math.max(1, opts.batchBlocks ?? 1024);
  const readsInFlight = Math.max(1, opts.readsInFlight ?? 1);
  const readBlocks = Math.max(1, opts.readBlocks ?? 64);
  const maxDamaged = opts.maxDamaged ?? 10_000;
  const result: ScrubResult = { blocksChecked: 0, bytesChecked: 0, pagesChecked: 0, damagedCount: 0, damaged: [], recheckedClean: 0, throttledMs: 0 };
  const rate = opts.maxBytesPerSecond ?? 0;
  if (!(rate >= 0)) throw new RangeError(`maxBytesPerSecond must be 0 (unlimited) or more, got ${rate}`);
  const limiter =
    rate > 0 ? new RateLimiter({ bytesPerSecond: rate, now: opts.now ?? (() => performance.now()), sleep: opts.sleep ?? abortableSleep }) : undefined;
  /** Waits for the rate limit before reading `bytes`; a wait cut short by cancel is an AbortError. */
  const pace = async (bytes: number): Promise<void> => {
    if (!limiter) return;
    try {
      await limiter.take(bytes, signal);
    } catch (e) {
      check();
      throw e;
    } finally {
      result.throttledMs = Math.round(limiter.waitedMs);
    }
  };
  const damage = (d: ScrubDamage): void => {
    result.damagedCount++;
    if (result.damaged.length < maxDamaged) result.damaged.push(d);
  };
  const report = (phase: 'count' | 'metadata' | 'data', done: number, total: number): void =>
    opts.onProgress?.(done, Math.max(done, total), { phase, damaged: result.damagedCount, pagesChecked: result.pagesChecked });

  // Pass 1: count data blocks, so progress has a total (it may drift with concurrent writes).
  check();
  const [start] = prefixRange(KeyPrefix.EXTENT);
  let total = 0;
  for (let from: Buffer | undefined = start; from; ) {
    const { rows, next } = await scanExtents(volume, from, SCAN_KEYS * 8, Infinity);
    for (const r of rows) total += r.count;
    from = next;
    check();
    await yieldToLoop();
  }
  report('count', 0, total);

  // Pass 2: metadata pages of the checkpointed tree (cheap next to the data: one page per
  // hundreds of records).
  if (opts.metadata !== false && volume instanceof MetaVolume) {
    // Pages are paced in groups: the walk yields every few dozen pages, and pays then for those.
    let unpaidPages = 0;
    await scrubMetadataPages(volume, {
      check,
      onPage: () => {
        result.pagesChecked++;
        unpaidPages++;
        if (result.pagesChecked % 256 === 0) report('metadata', 0, total);
      },
      onDamage: (addr, reason) => damage({ ino: 'metadata', offset: addr * BLOCK_BYTES, reason }),
      yieldToLoop: async () => {
        const bytes = unpaidPages * PAGE_BYTES;
        unpaidPages = 0;
        await pace(bytes);
        await yieldToLoop();
      },
    });
    report('metadata', 0, total);
  }

  // Pass 3: data, batch by batch.
  for (let from: Buffer | undefined = start; from; ) {
    check();
    const { rows, next } = await scanExtents(volume, from, SCAN_KEYS, batchBlocks);
    from = next;
    const suspects: Array<{ ino: bigint; fileBlock: number }> = [];
    // `readsInFlight` device reads at a time: the scrub never holds more of the I/O thread pool
    // than that, so NFS reads queue behind at most that many scrub reads.
    const pieces: Array<{ r: ExtentRow; first: number; n: number }> = [];
    for (const r of rows) for (let first = 0; first < r.count; first += readBlocks) pieces.push({ r, first, n: Math.min(readBlocks, r.count - first) });
    let pi = 0;
    const worker = async (): Promise<void> => {
      while (pi < pieces.length) {
        const { r, first, n } = pieces[pi++]!;
        await pace(n * BLOCK_BYTES);
        const buf = Buffer.allocUnsafe(n * BLOCK_BYTES);
        try {
          await volume.readBlocks(r.volBlock + first, buf);
        } catch {
          // Unreadable (or no longer addressable): every block of the piece is a suspect.
          for (let i = first; i < first + n; i++) suspects.push({ ino: r.ino, fileBlock: r.fileBlock + i });
          continue;
        }
        for (let i = 0; i < n; i++) {
          if (crc32c(buf.subarray(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES)) !== extentCrc(r.value, first + i)) suspects.push({ ino: r.ino, fileBlock: r.fileBlock + first + i });
        }
      }
    };
    await Promise.all(Array.from({ length: readsInFlight }, worker));
    // Cancelled meanwhile (the filesystem may be closing): its reads are not evidence of damage.
    check();
    for (const s of suspects) {
      const why = await recheck(volume, fs, s.ino, s.fileBlock);
      if (why === undefined) result.recheckedClean++;
      else damage({ ino: s.ino.toString(), offset: s.fileBlock * BLOCK_BYTES, reason: why });
    }
    for (const r of rows) result.blocksChecked += r.count;
    result.bytesChecked = result.blocksChecked * BLOCK_BYTES;
    report('data', result.blocksChecked, total);
    await yieldToLoop();
  }
  check();
  return result;
}

/**
 * Reads one block again through the engine (its shared file lock, its checksum check). Returns
 * why the block is damaged, or undefined when it reads fine now (rewritten or gone meanwhile).
 */
async function recheck(volume: Volume, fs: FileSystem, ino: bigint, fileBlock: number): Promise<string | undefined> {
  const raw = await volume.get(inodeKey(ino));
  if (!raw) return undefined; // the file was removed since
  const generation = decodeInode(ino, raw).generation;
  try {
    await fs.read({ ino, generation }, BigInt(fileBlock) * BigInt(BLOCK_BYTES), BLOCK_BYTES);
    return undefined;
  } catch (e) {
    if (e instanceof FsError && e.code === FsErrorCode.IO) return e.message;
    if (e instanceof FsError) return undefined; // STALE, ... : the file changed under us
    return `read failed: ${(e as Error).message}`;
  }
}
