import { randomBytes } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';
import type { Space } from '@ferry/pool';
import { BlockAllocator, groupSlotBlock } from './block-allocator';
import { BTree } from './btree';
import {
  BLOCK_BYTES,
  DEFAULT_LOG_BYTES,
  GROUP_BLOCKS,
  LOG_FLAG_LAST,
  LOG_HEADER_BYTES,
  LOG_START_BLOCK,
  MAX_TX_BYTES,
  MIN_LOG_BYTES,
  PAGE_BLOCKS,
  PAGE_BYTES,
  SB_BLOCK_A,
  SECTOR_BYTES,
  align,
} from './layout';
import { type Superblock, decodeSuperblock, encodeSuperblock } from './superblock';
import type { Extent, Transaction, Volume, VolumeStats } from './volume';
import { CorruptionError, VolumeFailedError, VolumeFullError } from './volume';
import { type DataRun, type EncodedTx, TxTooLargeError, dataSectionBytes, encodeTx, readLog, sealInto, wrapRecord } from './wal';

/**
 * The metadata volume: COW B+tree + write-ahead log + A/B superblocks + bitmap allocator on
 * one Space. Layout and recovery rules: libs/fs/FORMAT-meta.md.
 *
 * Invariants:
 * - LSNs increase by one in apply order; the in-memory tree always equals the checkpointed tree
 *   plus every applied transaction, and the log holds, from the superblock's log position, every
 *   applied transaction after the checkpoint LSN that has been written so far.
 * - `durable(lsn)` resolves only after the durable write of the log record of lsn has completed,
 *   with the sync of the data it names if any (or after a checkpoint that includes it). Data
 *   written by writeBlocks calls that completed before a log write is durable before recovery
 *   can replay a record naming it in `allocated`: either it was synced before that log write,
 *   or the record carries its crc32c (LOG_TX_DATA) and recovery replays the record only if the
 *   data verifies (a sync issued with the log write covers the data).
 * - A block whose checksum a replayable LOG_TX_DATA record carries (LSN above the older
 *   superblock copy's checkpoint LSN) is never written again until checkpoints make that record
 *   unreplayable, and such records reference at most `dataVerifyBytes` of data in all, so
 *   recovery reads at most that much file data whatever the size of the volume.
 * - Log space from the older superblock copy's log position to the head is never overwritten;
 *   a batch that does not fit waits for checkpoints to move the tail.
 * - A checkpoint never overwrites a block the last flipped superblock reaches (pages are
 *   copy-on-write, bitmaps go to the other slot, the superblock to the other copy), and blocks
 *   freed before its snapshot become reusable only after the next flip, so the older copy also
 *   stays whole until then (fallback when the newest copy is unreadable).
 * - A writable open ends with a checkpoint that starts a new log generation, so records left
 *   past the recovered tail (torn, or from before) can never be replayed later.
 * - After a failed log or checkpoint write/sync the volume is failed: every later apply,
 *   durable or checkpoint throws VolumeFailedError.
 */

export interface MetaLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface FormatOptions {
  volumeId: bigint;
  maxBytes: number;
  blockBytes?: 4096;
  /** Nanoseconds since the epoch (recorded as the creation time). */
  clock?: () => bigint;
  random?: (n: number) => Buffer;
  /** Size of the log region (default 32 MiB, capped to a quarter of the initial space). */
  logBytes?: number;
}

export interface OpenOptions {
  /** Raise (or lower, never below the space) the size limit recorded at format. */
  maxBytes?: number;
  /** Clean page cache size in pages of 16 KiB (default 4096 = 64 MiB). */
  cachePages?: number;
  /** Wait this long after the first record before a log write, to batch more (default 0). */
  groupCommitDelayMs?: number;
  random?: (n: number) => Buffer;
  logger?: MetaLogger;
  readOnly?: boolean;
  /** New owner: increment the superblock epoch (ARCHITECTURE "Ownership"). */
  bumpEpoch?: boolean;
  /** Checkpoint at least this often when anything changed (default 30 s; 0 = never by timer). */
  checkpointIntervalMs?: number;
  /** Most file data that replayable records may carry checksums of, which is what recovery
   * reads to verify them (default 64 MiB; 0 = always sync data before the log write). */
  dataVerifyBytes?: number;
  /** Start a checkpoint once this much log is waiting to be replayed (default 4 MiB). Recovery
   * replays at most about this much plus what arrives during the checkpoint, so its time stays
   * bounded (about 1 s here) whatever the volume's size or the log region's. */
  checkpointLogBytes?: number;
}

/** Largest single writeBlocks whose block checksums are remembered (larger ones are bulk
 * flushes: their transactions take the sync-before-log path). */
const TRACK_WRITE_MAX_BLOCKS = 256;

/** A block written since the last data sync: its crc32c, and the data generation its write
 * completed in (-1 while in flight). crc -1: unknown (overlapping writes), never trusted. */
interface RecentWrite {
  crc: number;
  gen: number;
}

export class MetaVolume implements Volume {
  readonly blockBytes = BLOCK_BYTES;
  readonly bootId: Buffer;
  private sb: Superblock;
  private readonly tree: BTree;
  private readonly alloc: BlockAllocator;
  private failure: VolumeFailedError | undefined;
  private closed = false;
  private readonly readOnly: boolean;
  private readonly logger: MetaLogger | undefined;

  private lastLsn: bigint;
  private durableLsn: bigint;
  private checkpointedLsn: bigint;

  // Log writer state (positions are byte offsets inside the log region).
  private readonly logBytes: number;
  private readonly logBase: number;
  private logHead = 0;
  private logUsed = 0;
  private pending: Array<{ lsn: bigint; rec: Buffer; allocated: Extent[] }> = [];
  private pendingBytes = 0;
  private batchFirstLsn: bigint | undefined;
  private inflightStart: number | undefined;
  private flushing = false;
  private waiters: Array<{ lsn: bigint; resolve: () => void; reject: (e: Error) => void }> = [];
  private dataGen = 0;
  private syncedDataGen = 0;

  // Data checksums in the log (format 2). recentData: blocks written since the last data sync,
  // bounded by trackBlocks (insertion order; pruned after each sync). untrackedGen: the last
  // write that was too large or found the map full; while it is unsynced, a batch naming data
  // blocks takes the sync-before-log path. risk*: blocks named with a checksum by records that
  // recovery may still verify (LSN > prevCheckpointLsn, the older superblock copy's).
  private readonly recentData = new Map<number, RecentWrite>();
  private untrackedGen = 0;
  private readonly trackBlocks: number;
  private readonly dataVerifyBytes: number;
  private riskQueue: Array<{ lsn: bigint; bytes: number; blocks: number[] }> = [];
  private readonly riskBlocks = new Map<number, bigint>();
  private riskBytes = 0;
  private prevCheckpointLsn: bigint;
  /** Log batches written with data checksums instead of a data sync first (for tests). */
  checksumBatches = 0;

  // Apply ordering and back-pressure.
  private applyWaiting = 0;
  private applyTail: Promise<void> = Promise.resolve();
  private readonly dirtySoft: number;
  private readonly dirtyHard: number;
  /** The size limit: the superblock's, raised by raiseMaxBytes (the next flip records it). */
  private maxBytesLimit: number;
  /** Blocks data allocation leaves free, so a checkpoint of dirtyHard pages always fits. */
  private readonly reserveBlocks: number;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private growing: Promise<void> | undefined;
  private readonly groupCommitDelayMs: number;
  private readonly checkpointLogBytes: number;
  /** Bytes read from the log region during recovery (for tests and the open log line). */
  replayBytesRead = 0;
  replayedRecords = 0;
  /** File data bytes read during recovery to verify LOG_TX_DATA records. */
  replayDataBytesRead = 0;
  /** The LOG_TX_DATA record whose data did not verify at recovery, ending the log (for tests). */
  replayDataMismatchLsn: bigint | undefined;

  constructor(
    private readonly space: Space,
    init: { sb: Superblock; tree: BTree; alloc: BlockAllocator; lastLsn: bigint; logHead: number; readOnly: boolean },
    opts: OpenOptions,
  ) {
    this.sb = init.sb;
    this.maxBytesLimit = init.sb.maxBytes;
    this.tree = init.tree;
    this.alloc = init.alloc;
    this.readOnly = init.readOnly;
    this.logger = opts.logger;
    this.bootId = (opts.random ?? randomBytes)(16);
    this.lastLsn = init.lastLsn;
    this.durableLsn = init.lastLsn;
    this.checkpointedLsn = init.sb.checkpointLsn;
    this.prevCheckpointLsn = init.sb.checkpointLsn;
    this.dataVerifyBytes = Math.max(0, opts.dataVerifyBytes ?? 64 * 1024 * 1024);
    this.trackBlocks = Math.floor(this.dataVerifyBytes / BLOCK_BYTES);
    this.logBytes = init.sb.logBlocks * BLOCK_BYTES;
    this.logBase = init.sb.logStartBlock * BLOCK_BYTES;
    this.logHead = init.logHead;
    const cachePages = Math.max(16, opts.cachePages ?? 4096);
    // Dirty pages are bounded like the clean cache: a checkpoint starts at half of cachePages
    // and applies wait at cachePages. Memory stays within about twice the cache.
    // On a small volume the reserve is capped at an eighth of it, and the dirty limits with it.
    const maxBlocks = Math.floor(init.sb.maxBytes / BLOCK_BYTES);
    this.reserveBlocks = Math.min((Math.max(16, cachePages) + 16) * PAGE_BLOCKS, Math.floor(maxBlocks / 8));
    this.dirtyHard = Math.max(16, Math.min(cachePages, Math.floor(this.reserveBlocks / PAGE_BLOCKS) - 16));
    this.dirtySoft = Math.max(8, Math.floor(this.dirtyHard / 2));
    this.groupCommitDelayMs = opts.groupCommitDelayMs ?? 0;
    this.checkpointLogBytes = Math.max(64 * 1024, opts.checkpointLogBytes ?? 4 * 1024 * 1024);
    const every = opts.checkpointIntervalMs ?? 30_000;
    if (every > 0 && !this.readOnly) {
      this.timer = setInterval(() => {
        if (this.tree.dirtyCount > 0 || this.lastLsn > this.checkpointedLsn) this.backgroundCheckpoint();
      }, every);
      this.timer.unref();
    }
  }

  get epoch(): bigint {
    return this.sb.epoch;
  }

  /** Pages currently dirty (for tests and metrics). */
  get dirtyPages(): number {
    return this.tree.dirtyCount;
  }

  get cachedPages(): number {
    return this.tree.cachedPages;
  }

  /** Where the next log batch goes, in bytes into the log region (for tests and metrics). */
  get logHeadBytes(): number {
    return this.logHead;
  }

  // ---------------------------------------------------------------- reads

  get(key: Buffer): Promise<Buffer | undefined> {
    this.checkOpen();
    const r = this.tree.getSync(key);
    if (typeof r !== 'number') return Promise.resolve(r);
    return this.tree.get(key);
  }

  scan(from: Buffer, to: Buffer | undefined, visit: (key: Buffer, value: Buffer) => boolean): Promise<void> {
    this.checkOpen();
    return this.tree.scan(from, to, visit);
  }

  // ---------------------------------------------------------------- transactions

  apply(tx: Transaction): Promise<bigint> {
    try {
      this.checkWritable();
      const enc = encodeTx(tx);
      if (enc.rec.length > this.logBytes / 4)
        throw new TxTooLargeError(`transaction of ${enc.rec.length} bytes exceeds a quarter of the log (${this.logBytes} bytes)`);
      // Near full, only transactions that delete or free may still add pages: the rest of the
      // reserve is what lets those checkpoints (copy-on-write needs new pages) complete.
      if (enc.dels.length === 0 && enc.freed.length === 0 && this.alloc.maxBlocks - this.alloc.usedBlocks < this.reserveBlocks / 2)
        throw new VolumeFullError('filesystem is full (metadata reserve)');
      if (this.applyWaiting === 0 && this.tree.dirtyCount < this.dirtyHard && this.resident(enc))
        return Promise.resolve(this.applyNow(enc));
      return this.applySlow(enc);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  private resident(enc: EncodedTx): boolean {
    for (const k of enc.dels) if (this.tree.missingOnPath(k) >= 0) return false;
    for (const [k] of enc.puts) if (this.tree.missingOnPath(k) >= 0) return false;
    return true;
  }

  private firstMissing(enc: EncodedTx): number {
    for (const k of enc.dels) {
      const m = this.tree.missingOnPath(k);
      if (m >= 0) return m;
    }
    for (const [k] of enc.puts) {
      const m = this.tree.missingOnPath(k);
      if (m >= 0) return m;
    }
    return -1;
  }

  private async applySlow(enc: EncodedTx): Promise<bigint> {
    this.applyWaiting++;
    const prev = this.applyTail;
    let done!: () => void;
    this.applyTail = new Promise<void>((r) => (done = r));
    try {
      await prev;
      for (;;) {
        this.checkWritable();
        if (this.tree.dirtyCount >= this.dirtyHard) {
          await this.checkpoint();
          continue;
        }
        const m = this.firstMissing(enc);
        if (m < 0) break;
        await this.tree.load(m);
      }
      return this.applyNow(enc);
    } finally {
      this.applyWaiting--;
      done();
    }
  }

  /** Install a transaction whose paths are resident: synchronous, so it is atomic. */
  private applyNow(enc: EncodedTx): bigint {
    this.alloc.checkApply(enc.allocated, enc.freed);
    const lsn = ++this.lastLsn;
    try {
      this.install(enc);
    } catch (e) {
      // Half a transaction is in memory: nothing may be logged or checkpointed after it.
      throw this.fail('apply failed part-way', e);
    }
    this.pending.push({ lsn, rec: enc.rec, allocated: enc.allocated });
    this.pendingBytes += enc.rec.length;
    this.kickFlush();
    if (this.tree.dirtyCount >= this.dirtySoft) this.backgroundCheckpoint();
    return lsn;
  }

  /** Tree and allocator effects of a transaction (live apply and replay alike). Dels go first,
   * so a key both deleted and put in one transaction ends up put. */
  private install(enc: EncodedTx): void {
    for (const k of enc.dels) this.tree.del(k);
    for (const [k, v] of enc.puts) this.tree.put(k, v);
    for (const e of enc.allocated) this.alloc.markAllocated(e);
    for (const e of enc.freed) this.alloc.markFreed(e);
  }

  /** Replay one record at open (paths loaded here; allocator checked as corruption). */
  /**
   * Recovery of a LOG_TX_DATA record: does the file data it names hold what was written? Its
   * batch was written without a data sync first (the sync was issued with it), so a mismatch
   * means that batch's sync never completed (neither data nor record were acknowledged),
   * unless the data changed later, which cannot happen inside the replay window: in-place
   * writes to such blocks wait for the checkpoints that take the record out of it, and a freed
   * block is reused only after the flip of a checkpoint whose snapshot followed the free
   * (FORMAT-meta.md "Durability order").
   */
  async verifyData(lsn: bigint, runs: DataRun[]): Promise<boolean> {
    const limit = Math.floor(this.space.sizeBytes / BLOCK_BYTES);
    let ok = true;
    for (const r of runs) {
      if (r.block + r.crcs.length > limit) throw new CorruptionError(`log record ${lsn}`, `data run ${r.block}+${r.crcs.length} beyond the space`);
      for (let i = 0; i < r.crcs.length && ok; i += TRACK_WRITE_MAX_BLOCKS) {
        const n = Math.min(TRACK_WRITE_MAX_BLOCKS, r.crcs.length - i);
        const buf = Buffer.allocUnsafe(n * BLOCK_BYTES);
        await this.space.read(buf, (r.block + i) * BLOCK_BYTES);
        this.replayDataBytesRead += buf.length;
        for (let j = 0; j < n; j++)
          if (crc32c(buf.subarray(j * BLOCK_BYTES, (j + 1) * BLOCK_BYTES)) !== r.crcs[i + j]) {
            ok = false;
            break;
          }
      }
      if (!ok) break;
    }
    return ok;
  }

  async replay(lsn: bigint, enc: EncodedTx): Promise<void> {
    for (;;) {
      const m = this.firstMissing(enc);
      if (m < 0) break;
      await this.tree.load(m);
    }
    try {
      this.alloc.checkApply(enc.allocated, enc.freed);
    } catch (e) {
      throw new CorruptionError(`log record ${lsn}`, (e as Error).message);
    }
    this.install(enc);
    this.lastLsn = lsn;
    this.durableLsn = lsn;
    this.replayedRecords++;
  }

  durable(lsn: bigint): Promise<void> {
    if (lsn <= this.durableLsn || lsn <= this.checkpointedLsn) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    if (lsn > this.lastLsn) return Promise.reject(new RangeError(`LSN ${lsn} was never applied (last ${this.lastLsn})`));
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ lsn, resolve, reject });
      this.kickFlush();
    });
  }

  private kickFlush(): void {
    if (this.flushing || this.pending.length === 0) return;
    this.flushing = true;
    const run = (): void => {
      this.flushLoop().catch((e: unknown) => this.fail('log write failed', e));
    };
    if (this.groupCommitDelayMs > 0) setTimeout(run, this.groupCommitDelayMs);
    else setImmediate(run);
  }

  /** Group commit: one durable write per batch (and a sync when it names unsynced data);
   * records applied meanwhile form the next. */
  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0 && !this.failure) {
        const limit = Math.floor(this.logBytes / 4);
        let take = 0;
        let bytes = 0;
        while (take < this.pending.length && (take === 0 || bytes + this.pending[take]!.rec.length <= limit))
          bytes += this.pending[take++]!.rec.length;
        const batch = this.pending.splice(0, take);
        this.pendingBytes -= bytes;
        this.batchFirstLsn = batch[0]!.lsn;
        // Synchronous from here to the data plan: writes completed until now are either named
        // with their checksums (and guarded against in-place rewrites) or synced first below.
        const plan = this.planData(batch);
        if (plan) bytes += plan.extraBytes;
        const len = align(bytes, SECTOR_BYTES);
        for (;;) {
          const waste = this.logHead + len > this.logBytes ? this.logBytes - this.logHead : 0;
          if (this.logUsed + waste + len < this.logBytes) break;
          await this.checkpoint();
          if (this.failure) throw this.failure;
        }
        const wraps = this.logHead + len > this.logBytes;
        const startPos = this.logHead;
        const pos = wraps ? 0 : startPos;
        this.inflightStart = startPos;
        const buf = Buffer.allocUnsafe(len);
        let o = 0;
        for (let i = 0; i < batch.length; i++) {
          const r = batch[i]!;
          o += sealInto(buf, o, r.rec, plan?.runs[i], i === batch.length - 1 ? LOG_FLAG_LAST : 0, r.lsn, this.sb.epoch, this.sb.logGen);
        }
        buf.fill(0, o);
        // Log records go out as durable writes (one device round trip, no barrier for anything
        // else). File data named by the batch must be durable with them: without a plan it is
        // synced first (file data before the metadata that names it); with checksums in the
        // records, one sync runs alongside the log write (recovery replays a record only if its
        // data verifies, so the order between the two does not matter). A batch that names no
        // unsynced data needs no sync at all: other unsynced writes are either pages of a
        // checkpoint (which syncs before its flip) or data no applied transaction names yet.
        const withData = plan !== undefined && plan.runs.some((r) => r !== undefined);
        if (!plan && this.dataGen !== this.syncedDataGen) await this.syncSpace();
        else if (withData) this.checksumBatches++;
        const io: Array<Promise<void>> = [this.space.writeDurable(buf, this.logBase + pos)];
        if (wraps) io.push(this.space.writeDurable(wrapRecord(batch[0]!.lsn, this.sb.epoch, this.sb.logGen), this.logBase + startPos));
        if (withData) io.push(this.syncSpace());
        // Every one settles before the batch counts (or the volume fails): nothing of it is
        // still in flight when the next batch is written.
        for (const r of await Promise.allSettled(io)) if (r.status === 'rejected') throw r.reason;
        this.logUsed += (wraps ? this.logBytes - startPos : 0) + len;
        this.logHead = pos + len >= this.logBytes ? 0 : pos + len;
        this.inflightStart = undefined;
        this.batchFirstLsn = undefined;
        this.durableLsn = batch[batch.length - 1]!.lsn;
        this.wake();
        if (this.logUsed > Math.min(this.logBytes / 2, this.checkpointLogBytes)) this.backgroundCheckpoint();
      }
    } finally {
      this.flushing = false;
      this.inflightStart = undefined;
      this.batchFirstLsn = undefined;
    }
    if (this.pending.length > 0 && !this.failure) this.kickFlush();
  }

  /**
   * Checksums of the batch's unsynced data blocks, or undefined: sync the data before the log
   * write (a block with unknown contents, untracked writes, or more than dataVerifyBytes of
   * data in replayable records). With a plan, the blocks join the risk set at once, before
   * any await, so no later writeBlocks can change them while a record naming them is replayable.
   */
  private planData(batch: Array<{ lsn: bigint; rec: Buffer; allocated: Extent[] }>): { runs: Array<DataRun[] | undefined>; extraBytes: number } | undefined {
    const runs = new Array<DataRun[] | undefined>(batch.length);
    const tracked = this.recentData.size > 0;
    const untracked = this.untrackedGen > this.syncedDataGen;
    let extraBytes = 0;
    let dataBytes = 0;
    const blocks: number[] = [];
    const room = this.dataVerifyBytes - this.riskBytes;
    for (let i = 0; i < batch.length; i++) {
      const alloc = batch[i]!.allocated;
      if (alloc.length === 0) continue;
      if (untracked) return undefined;
      if (!tracked) continue;
      let list: DataRun[] | undefined;
      let run: DataRun | undefined;
      for (const e of alloc) {
        for (let b = e.block; b < e.block + e.count; b++) {
          const d = this.recentData.get(b);
          // Absent: synced already (or never written: no different from the old path).
          if (!d || (d.gen >= 0 && d.gen <= this.syncedDataGen)) continue;
          if (d.gen < 0 || d.crc < 0) return undefined;
          dataBytes += BLOCK_BYTES;
          if (dataBytes > room) return undefined;
          blocks.push(b);
          if (run && run.block + run.crcs.length === b) run.crcs.push(d.crc);
          else {
            run = { block: b, crcs: [d.crc] };
            (list ??= []).push(run);
          }
        }
      }
      if (list) {
        const section = dataSectionBytes(list);
        // A record stays within the reader's limit, and a batch well within the log.
        if (batch[i]!.rec.length - LOG_HEADER_BYTES + section > MAX_TX_BYTES) return undefined;
        runs[i] = list;
        extraBytes += section;
        if (extraBytes > this.logBytes / 16) return undefined;
      }
    }
    if (blocks.length > 0) {
      const lsn = batch[batch.length - 1]!.lsn;
      this.riskQueue.push({ lsn, bytes: dataBytes, blocks });
      for (const b of blocks) this.riskBlocks.set(b, lsn);
      this.riskBytes += dataBytes;
      // Two flips take a record out of both superblock copies' replay windows.
      if (this.riskBytes >= this.dataVerifyBytes / 2) this.backgroundCheckpoint();
    }
    return { runs, extraBytes };
  }

  private async syncSpace(): Promise<void> {
    const gen = this.dataGen;
    await this.space.sync();
    if (gen > this.syncedDataGen) this.syncedDataGen = gen;
    if (this.recentData.size > 0)
      for (const [b, d] of this.recentData) if (d.gen >= 0 && d.gen <= this.syncedDataGen) this.recentData.delete(b);
  }

  /** Records at or below the older superblock copy's checkpoint LSN are never replayed again. */
  private pruneRisk(): void {
    let i = 0;
    while (i < this.riskQueue.length && this.riskQueue[i]!.lsn <= this.prevCheckpointLsn) {
      const q = this.riskQueue[i++]!;
      this.riskBytes -= q.bytes;
      for (const b of q.blocks) if (this.riskBlocks.get(b) === q.lsn) this.riskBlocks.delete(b);
    }
    if (i > 0) this.riskQueue = this.riskQueue.slice(i);
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const done = this.maxDone();
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.lsn <= done) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  private maxDone(): bigint {
    return this.durableLsn > this.checkpointedLsn ? this.durableLsn : this.checkpointedLsn;
  }

  // ---------------------------------------------------------------- blocks

  async allocate(blocks: number, hint?: number): Promise<Extent[]> {
    this.checkWritable();
    if (!Number.isSafeInteger(blocks) || blocks <= 0) throw new RangeError(`cannot allocate ${blocks} blocks`);
    if (this.alloc.maxBlocks - this.alloc.usedBlocks - blocks < this.reserveBlocks) throw new VolumeFullError();
    const out = this.alloc.reserve(blocks, hint);
    let got = out.reduce((a, e) => a + e.count, 0);
    try {
      while (got < blocks) {
        if (!(await this.grow())) throw new VolumeFullError();
        const more = this.alloc.reserve(blocks - got, hint);
        got += more.reduce((a, e) => a + e.count, 0);
        out.push(...more);
      }
    } catch (e) {
      this.alloc.unreserve(out);
      throw e;
    }
    return out;
  }

  unreserve(extents: Extent[]): void {
    this.alloc.unreserve(extents);
    // A checksum remembered for a block given back must not describe it when it is reused.
    if (this.recentData.size > 0) for (const e of extents) for (let b = e.block; b < e.block + e.count; b++) this.recentData.delete(b);
  }

  /**
   * Raises the size limit while the volume is in use (never lowers it; a smaller value is a
   * no-op). Allocation sees it at once; it is durable once this resolves (a checkpoint flips a
   * superblock carrying it). The space's own ceiling must allow the growth.
   */
  async raiseMaxBytes(maxBytes: number): Promise<void> {
    this.checkWritable();
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new RangeError(`bad size limit ${maxBytes}`);
    if (maxBytes <= this.maxBytesLimit) return;
    this.alloc.raiseMaxBlocks(Math.floor(maxBytes / BLOCK_BYTES));
    this.maxBytesLimit = maxBytes;
    // Slices the space took beyond the old limit (it grows a whole slice at a time) are usable now.
    this.alloc.setAddressable(Math.floor(this.space.sizeBytes / BLOCK_BYTES));
    await this.checkpoint();
  }

  /** Take one more slice; false when the size limit or the pool has no room. */
  private async grow(): Promise<boolean> {
    if (this.growing) {
      await this.growing;
      return true;
    }
    if (this.space.sizeBytes >= this.maxBytesLimit) return false;
    let ok = true;
    this.growing = (async () => {
      try {
        await this.space.grow();
      } catch (e) {
        if ((e as Error).name === 'PoolFullError') ok = false;
        else throw e;
      }
      this.alloc.setAddressable(Math.floor(this.space.sizeBytes / BLOCK_BYTES));
    })();
    try {
      await this.growing;
    } finally {
      this.growing = undefined;
    }
    return ok;
  }

  private checkBlocks(block: number, bytes: number, write: boolean): void {
    if (!Number.isSafeInteger(block) || block < 0 || bytes <= 0 || bytes % BLOCK_BYTES !== 0)
      throw new RangeError(`bad block I/O: block ${block}, ${bytes} bytes`);
    const n = bytes / BLOCK_BYTES;
    if (block + n > this.alloc.addressableBlocks) throw new RangeError(`block I/O beyond the space: ${block}+${n}`);
    if (write)
      for (let b = block; b < block + n; b++)
        if (!this.alloc.isUsed(b) || b % GROUP_BLOCKS < 4 || (b >= this.sb.logStartBlock && b < this.sb.logStartBlock + this.sb.logBlocks))
          throw new RangeError(`write to block ${b}, which is not allocated data`);
  }

  async writeBlocks(block: number, data: Buffer): Promise<void> {
    this.checkWritable();
    this.checkBlocks(block, data.length, true);
    const n = data.length / BLOCK_BYTES;
    // Rewriting a block whose checksum a replayable record carries would make recovery take
    // that (acknowledged) record for a torn one: checkpoints take it out of replay first.
    // (The engine writes file data copy-on-write, so this is the rare path.)
    while (this.riskBlocks.size > 0 && this.atRisk(block, n)) {
      await this.checkpoint();
      this.checkWritable();
    }
    const mine: RecentWrite[] = [];
    if (n <= TRACK_WRITE_MAX_BLOCKS && this.recentData.size + n <= this.trackBlocks) {
      for (let i = 0; i < n; i++) {
        const prev = this.recentData.get(block + i);
        const e: RecentWrite = { crc: prev && prev.gen < 0 ? -1 : crc32c(data.subarray(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES)), gen: -1 };
        if (prev) this.recentData.delete(block + i); // keep insertion order = write order
        this.recentData.set(block + i, e);
        mine.push(e);
      }
    } else if (this.recentData.size > 0) {
      // Untracked: a checksum remembered for these blocks no longer describes them.
      for (let i = 0; i < n; i++) {
        const prev = this.recentData.get(block + i);
        if (prev) {
          prev.crc = -1;
          prev.gen = -1;
          mine.push(prev);
        }
      }
    }
    let done = false;
    try {
      await this.space.write(data, block * BLOCK_BYTES);
      done = true;
    } finally {
      const gen = ++this.dataGen;
      for (const e of mine) {
        e.gen = gen;
        if (!done) e.crc = -1; // what reached the device is unknown
      }
      if (mine.length < n) this.untrackedGen = gen;
    }
  }

  private atRisk(block: number, n: number): boolean {
    for (let b = block; b < block + n; b++) if (this.riskBlocks.has(b)) return true;
    return false;
  }

  async readBlocks(block: number, buf: Buffer): Promise<void> {
    this.checkOpen();
    this.checkBlocks(block, buf.length, false);
    await this.space.read(buf, block * BLOCK_BYTES);
  }

  /**
   * readBlocks that also returns each block's CRC-32C when the space computes them off the event
   * loop (a pool space over file devices with the native addon); undefined otherwise.
   */
  async readBlocksWithCrcs(block: number, buf: Buffer): Promise<Uint32Array | undefined> {
    this.checkOpen();
    this.checkBlocks(block, buf.length, false);
    if (!this.space.readWithCrcs) {
      await this.space.read(buf, block * BLOCK_BYTES);
      return undefined;
    }
    return this.space.readWithCrcs(buf, block * BLOCK_BYTES);
  }

  stats(): VolumeStats {
    const maxBlocks = this.alloc.maxBlocks;
    return {
      blockBytes: BLOCK_BYTES,
      totalBlocks: this.alloc.addressableBlocks,
      maxBlocks,
      freeBlocks: Math.max(0, maxBlocks - this.alloc.usedBlocks),
      lastLsn: this.lastLsn,
      checkpointLsn: this.checkpointedLsn,
    };
  }

  // ---------------------------------------------------------------- checkpoints

  private backgroundCheckpoint(): void {
    if (this.running || this.failure || this.readOnly || this.closed) return;
    this.checkpoint().catch(() => {
      /* already recorded as the volume's failure and logged */
    });
  }

  checkpoint(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.readOnly) return Promise.reject(new VolumeFailedError('volume is open read-only'));
    if (this.running) {
      // The one in flight may have snapshotted before the caller's changes: run one more.
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.runCheckpoint();
        } while (this.again && !this.failure);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async runCheckpoint(): Promise<void> {
    try {
      // Room for every page this checkpoint writes: grow first, since the snapshot is synchronous.
      while (!this.alloc.canPlacePages(this.tree.dirtyCount + 4)) {
        if (!(await this.grow())) throw new VolumeFullError('no room left for metadata pages');
      }
      const seq = this.sb.seq + 1n;
      const lsn = this.lastLsn;
      const logPos = this.inflightStart ?? this.logHead;
      const logLsn = this.batchFirstLsn ?? this.pending[0]?.lsn ?? this.lastLsn + 1n;
      const pages = this.tree.snapshot(() => {
        const b = this.alloc.allocatePage();
        if (b === undefined) throw new Error('checkpoint: page allocation failed after the room check');
        return b;
      }, lsn);
      const bm = this.alloc.snapshot(seq, this.sb.formatSalt);
      const sb: Superblock = {
        ...this.sb,
        maxBytes: this.maxBytesLimit,
        seq,
        rootBlock: this.tree.root as number,
        treeHeight: this.tree.height,
        checkpointLsn: lsn,
        logPosBytes: logPos,
        logLsn,
        groupsPersisted: this.alloc.groupCount,
      };
      await this.writePages(pages);
      for (const w of bm.writes) await this.space.write(w.image, (groupSlotBlock(w.group) + w.slot) * BLOCK_BYTES);
      await this.syncSpace();
      // The flip: durable on its own. The sync above covered the pages, the bitmaps and the data
      // of every transaction in the snapshot (written before it was applied); later writes are
      // the log's to make durable.
      await this.space.writeDurable(encodeSuperblock(sb), (SB_BLOCK_A + Number(seq % 2n)) * BLOCK_BYTES);
      // Flipped: the new tree is the recovery point.
      this.tree.writesDone(pages);
      this.tree.flipGen++;
      this.alloc.commitSnapshot(bm.writes, bm.release);
      // The log tail moves to the previous checkpoint's position, not this one's: the older
      // superblock copy stays replayable until the next flip overwrites it.
      const tail = this.sb.logPosBytes;
      this.prevCheckpointLsn = this.sb.checkpointLsn;
      this.pruneRisk();
      this.sb = sb;
      this.logUsed = this.logHead >= tail ? this.logHead - tail : this.logBytes - tail + this.logHead;
      if (lsn > this.checkpointedLsn) this.checkpointedLsn = lsn;
      this.wake();
    } catch (e) {
      throw this.fail('checkpoint failed', e);
    }
  }

  private async writePages(pages: Array<{ addr: number; page: Buffer }>): Promise<void> {
    const sorted = pages.slice().sort((a, b) => a.addr - b.addr);
    let i = 0;
    while (i < sorted.length) {
      let j = i + 1;
      while (j < sorted.length && j - i < 64 && sorted[j]!.addr === sorted[j - 1]!.addr + PAGE_BLOCKS) j++;
      const run = sorted.slice(i, j);
      const buf = run.length === 1 ? run[0]!.page : Buffer.concat(run.map((p) => p.page));
      await this.space.write(buf, run[0]!.addr * BLOCK_BYTES);
      i = j;
    }
  }

  /** Starting a new log generation (and maybe epoch) right after recovery. */
  async startWriting(bumpEpoch: boolean): Promise<void> {
    this.sb = { ...this.sb, logGen: this.sb.logGen + 1n, epoch: bumpEpoch ? this.sb.epoch + 1n : this.sb.epoch };
    this.logUsed = 0;
    await this.checkpoint();
  }

  /** @internal recovery: where the replayed log ends (the next batch goes there). */
  setLogHead(pos: number): void {
    this.logHead = pos;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    if (!this.readOnly && !this.failure) {
      await this.applyTail;
      if (this.lastLsn > this.durableLsn && this.lastLsn > this.checkpointedLsn) await this.durable(this.lastLsn);
      await this.checkpoint();
    }
    this.closed = true;
  }

  // ---------------------------------------------------------------- failure

  private fail(what: string, cause: unknown): VolumeFailedError {
    if (!this.failure) {
      this.failure =
        cause instanceof VolumeFailedError ? cause : new VolumeFailedError(`${what}: ${(cause as Error)?.message ?? String(cause)}`, cause);
      this.logger?.error({ err: cause }, `metadata volume failed: ${what}`);
      for (const w of this.waiters) w.reject(this.failure);
      this.waiters = [];
    }
    return this.failure;
  }

  get failed(): VolumeFailedError | undefined {
    return this.failure;
  }

  private checkOpen(): void {
    if (this.closed) throw new VolumeFailedError('volume is closed');
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.failure) throw this.failure;
    if (this.readOnly) throw new VolumeFailedError('volume is open read-only');
  }

  // ---------------------------------------------------------------- for verify

  /** @internal */
  get internals(): { tree: BTree; alloc: BlockAllocator; sb: Superblock } {
    return { tree: this.tree, alloc: this.alloc, sb: this.sb };
  }
}

// -------------------------------------------------------------------- format and open

function defaultLogBytes(space: Space, requested?: number): number {
  const total = Math.floor(space.sizeBytes / BLOCK_BYTES);
  const room = Math.min(total, GROUP_BLOCKS) - LOG_START_BLOCK - 16 * PAGE_BLOCKS;
  let logBytes = requested ?? Math.min(DEFAULT_LOG_BYTES, Math.floor(room / 4) * BLOCK_BYTES);
  logBytes = Math.floor(logBytes / BLOCK_BYTES) * BLOCK_BYTES;
  if (logBytes < MIN_LOG_BYTES) throw new RangeError(`log of ${logBytes} bytes is too small (space ${space.sizeBytes} bytes)`);
  if (logBytes / BLOCK_BYTES > room) throw new RangeError(`log of ${logBytes} bytes does not fit the first slice`);
  return logBytes;
}

/** Create an empty volume on `space` (destroys whatever the space held). */
export async function formatVolume(space: Space, opts: FormatOptions): Promise<void> {
  if ((opts.blockBytes ?? BLOCK_BYTES) !== BLOCK_BYTES) throw new RangeError('only 4096-byte blocks are supported');
  if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < space.sizeBytes)
    throw new RangeError(`maxBytes ${opts.maxBytes} is below the space's ${space.sizeBytes} bytes`);
  const random = opts.random ?? randomBytes;
  const logBytes = defaultLogBytes(space, opts.logBytes);
  const salt = random(16);
  const sb: Superblock = {
    seq: 0n,
    volumeId: opts.volumeId,
    epoch: 1n,
    logGen: salt.readBigUInt64LE(0) & 0x3fff_ffff_ffff_ffffn,
    maxBytes: opts.maxBytes,
    rootBlock: 0,
    checkpointLsn: 0n,
    logStartBlock: LOG_START_BLOCK,
    logBlocks: logBytes / BLOCK_BYTES,
    logPosBytes: 0,
    logLsn: 1n,
    pageBytes: PAGE_BYTES,
    groupBlocks: GROUP_BLOCKS,
    groupsPersisted: 0,
    treeHeight: 1,
    createdNs: opts.clock ? opts.clock() : 0n,
    formatSalt: salt.readBigUInt64LE(8),
  };
  // Both copies go first, so a superblock of an earlier format can never win.
  await space.write(Buffer.alloc(2 * BLOCK_BYTES), SB_BLOCK_A * BLOCK_BYTES);
  await zeroLog(space, LOG_START_BLOCK * BLOCK_BYTES, logBytes);
  const alloc = new BlockAllocator(Math.floor(opts.maxBytes / BLOCK_BYTES), sb.logBlocks, sb.logStartBlock);
  alloc.setAddressable(Math.floor(space.sizeBytes / BLOCK_BYTES));
  const tree = new BTree(pageReader(space), { freePage: (a) => alloc.markFreed({ block: a, count: PAGE_BLOCKS }) }, sb.formatSalt, 64, undefined, 1);
  const vol = new MetaVolume(space, { sb, tree, alloc, lastLsn: 0n, logHead: 0, readOnly: false }, { checkpointIntervalMs: 0, random });
  await vol.checkpoint();
  await vol.close();
}

/**
 * Write zeros over the whole log region (made durable by format's checkpoint). On a sparse
 * pool file this allocates the region's blocks now, so the log's first lap overwrites
 * allocated blocks: a durable write there commits no filesystem journal (an allocating one
 * does, ~1.7x the latency on ext4). It also leaves no record of an earlier format. The cost
 * is bounded by the log size, whatever the size of the volume.
 */
async function zeroLog(space: Space, posBytes: number, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(Math.min(bytes, 1024 * 1024));
  for (let done = 0; done < bytes; done += chunk.length) {
    const n = Math.min(chunk.length, bytes - done);
    await space.write(n === chunk.length ? chunk : chunk.subarray(0, n), posBytes + done);
  }
}

function pageReader(space: Space): { readPage(block: number): Promise<Buffer> } {
  return {
    async readPage(block: number): Promise<Buffer> {
      const buf = Buffer.allocUnsafeSlow(PAGE_BYTES);
      if ((block + PAGE_BLOCKS) * BLOCK_BYTES > space.sizeBytes)
        throw new CorruptionError(`page ${block}`, 'address beyond the space');
      await space.read(buf, block * BLOCK_BYTES);
      return buf;
    },
  };
}

/** Read both superblock copies and pick the newest valid one. */
export async function readSuperblock(space: Space): Promise<{ sb: Superblock; copy: 'A' | 'B'; other: Superblock | string }> {
  const buf = Buffer.alloc(2 * BLOCK_BYTES);
  await space.read(buf, SB_BLOCK_A * BLOCK_BYTES);
  const a = decodeSuperblock(buf.subarray(0, BLOCK_BYTES));
  const b = decodeSuperblock(buf.subarray(BLOCK_BYTES));
  if (typeof a === 'string' && typeof b === 'string')
    throw new CorruptionError('superblock', `no valid copy (A: ${a}; B: ${b})`);
  if (typeof b === 'string' || (typeof a !== 'string' && a.seq > b.seq)) return { sb: a as Superblock, copy: 'A', other: b };
  return { sb: b, copy: 'B', other: a };
}

/** Open a volume: newest valid superblock, allocator bitmaps, replay of the log tail. */
export async function openVolume(space: Space, opts: OpenOptions = {}): Promise<MetaVolume> {
  const { sb: found } = await readSuperblock(space);
  let sb = found;
  if (sb.pageBytes !== PAGE_BYTES || sb.groupBlocks !== GROUP_BLOCKS) throw new CorruptionError('superblock', 'unsupported page or group size');
  const maxBytes = opts.maxBytes ?? sb.maxBytes;
  if (maxBytes < space.sizeBytes) throw new RangeError(`maxBytes ${maxBytes} is below the space's ${space.sizeBytes} bytes`);
  sb = { ...sb, maxBytes };
  const readOnly = opts.readOnly ?? false;
  const alloc = new BlockAllocator(Math.floor(maxBytes / BLOCK_BYTES), sb.logBlocks, sb.logStartBlock);
  alloc.setAddressable(Math.floor(space.sizeBytes / BLOCK_BYTES));
  if (alloc.groupCount < sb.groupsPersisted) throw new CorruptionError('superblock', `names ${sb.groupsPersisted} block groups, the space holds ${alloc.groupCount}`);
  const slots = Buffer.alloc(2 * BLOCK_BYTES);
  for (let g = 0; g < sb.groupsPersisted; g++) {
    await space.read(slots, groupSlotBlock(g) * BLOCK_BYTES);
    if (!alloc.loadGroup(g, slots, sb.seq, sb.formatSalt)) throw new CorruptionError(`bitmap group ${g}`, 'no valid copy');
  }
  const cachePages = Math.max(16, opts.cachePages ?? 4096);
  const tree = new BTree(pageReader(space), { freePage: (a) => alloc.markFreed({ block: a, count: PAGE_BLOCKS }) }, sb.formatSalt, cachePages, sb.rootBlock, sb.treeHeight);
  const vol = new MetaVolume(space, { sb, tree, alloc, lastLsn: sb.checkpointLsn, logHead: sb.logPosBytes, readOnly }, { ...opts, checkpointIntervalMs: readOnly ? 0 : opts.checkpointIntervalMs });
  const logBase = sb.logStartBlock * BLOCK_BYTES;
  const logBytes = sb.logBlocks * BLOCK_BYTES;
  const region = {
    sizeBytes: logBytes,
    read: (buf: Buffer, pos: number) => space.read(buf, logBase + pos),
  };
  const end = await readLog(region, sb.logPosBytes, sb.logLsn, sb.epoch, sb.logGen, async (r) => {
    if (r.lsn <= sb.checkpointLsn) return true; // in the tree already; its data may since be freed and reused
    if (r.tx.data && !(await vol.verifyData(r.lsn, r.tx.data))) {
      vol.replayDataMismatchLsn = r.lsn;
      return false;
    }
    await vol.replay(r.lsn, r.tx);
    return true;
  });
  vol.replayBytesRead = end.bytesRead;
  vol.setLogHead(end.posBytes);
  opts.logger?.info({ replayed: vol.replayedRecords, bytesRead: end.bytesRead, dataBytesRead: vol.replayDataBytesRead, seq: sb.seq.toString() }, 'metadata volume recovered');
  if (!readOnly) await vol.startWriting(opts.bumpEpoch ?? false);
  return vol;
}
