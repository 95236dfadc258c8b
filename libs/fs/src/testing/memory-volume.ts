/**
 * An in-memory `Volume` double with the contract's semantics, for engine tests.
 *
 * Invariants:
 * - Keys are kept in sorted chunks (each chunk sorted, chunks ordered, no chunk empty), so
 *   get/put/scan are logarithmic-ish and a million keys stay cheap.
 * - Every block is in exactly one state: free, reserved (allocated but not yet named by an
 *   applied transaction), used, or pendingFree (freed by a transaction, reusable only after the
 *   next checkpoint, as the contract says).
 * - `durable(lsn)` resolves only after a simulated sync that covers `lsn`; `crashCopy()` rebuilds
 *   the volume from the transactions covered by completed syncs only, so a test can check that
 *   nothing acknowledged is lost and nothing unacknowledged is needed.
 */
import { randomBytes } from 'node:crypto';
import { type Extent, type Transaction, type Volume, type VolumeStats, VolumeFullError } from '../meta/volume';

const CHUNK_MAX = 512;

const FREE = 0;
const RESERVED = 1;
const USED = 2;
const PENDING_FREE = 3;

/** A sorted map of Buffer keys (memcmp order) in chunks of at most CHUNK_MAX. */
export class SortedBufferMap {
  private chunks: Array<{ keys: Buffer[]; values: Buffer[] }> = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Index of the first chunk whose last key >= key (or the last chunk). */
  private chunkFor(key: Buffer): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.chunks[mid]!;
      if (Buffer.compare(c.keys[c.keys.length - 1]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private static lowerBound(keys: Buffer[], key: Buffer): number {
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(keys[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get(key: Buffer): Buffer | undefined {
    if (this.chunks.length === 0) return undefined;
    const c = this.chunks[this.chunkFor(key)]!;
    const i = SortedBufferMap.lowerBound(c.keys, key);
    return i < c.keys.length && c.keys[i]!.equals(key) ? c.values[i] : undefined;
  }

  set(key: Buffer, value: Buffer): void {
    if (this.chunks.length === 0) {
      this.chunks.push({ keys: [key], values: [value] });
      this.count = 1;
      return;
    }
    const ci = this.chunkFor(key);
    const c = this.chunks[ci]!;
    const i = SortedBufferMap.lowerBound(c.keys, key);
    if (i < c.keys.length && c.keys[i]!.equals(key)) {
      c.values[i] = value;
      return;
    }
    c.keys.splice(i, 0, key);
    c.values.splice(i, 0, value);
    this.count++;
    if (c.keys.length > CHUNK_MAX) {
      const half = c.keys.length >>> 1;
      this.chunks.splice(ci + 1, 0, { keys: c.keys.splice(half), values: c.values.splice(half) });
    }
  }

  delete(key: Buffer): boolean {
    if (this.chunks.length === 0) return false;
    const ci = this.chunkFor(key);
    const c = this.chunks[ci]!;
    const i = SortedBufferMap.lowerBound(c.keys, key);
    if (i >= c.keys.length || !c.keys[i]!.equals(key)) return false;
    c.keys.splice(i, 1);
    c.values.splice(i, 1);
    this.count--;
    if (c.keys.length === 0) this.chunks.splice(ci, 1);
    return true;
  }

  /** Visit [from, to) ascending until visit returns false. Visiting must not mutate the map. */
  scan(from: Buffer, to: Buffer | undefined, visit: (key: Buffer, value: Buffer) => boolean): void {
    if (this.chunks.length === 0) return;
    let ci = this.chunkFor(from);
    let i = SortedBufferMap.lowerBound(this.chunks[ci]!.keys, from);
    while (ci < this.chunks.length) {
      const c = this.chunks[ci]!;
      for (; i < c.keys.length; i++) {
        const k = c.keys[i]!;
        if (to !== undefined && Buffer.compare(k, to) >= 0) return;
        if (!visit(k, c.values[i]!)) return;
      }
      ci++;
      i = 0;
    }
  }
}

export interface MemoryVolumeOptions {
  /** Size limit in blocks (default 65536 = 256 MiB). */
  maxBlocks?: number;
  blockBytes?: number;
  bootId?: Buffer;
  epoch?: bigint;
}

export class MemoryVolume implements Volume {
  readonly blockBytes: number;
  readonly epoch: bigint;
  readonly bootId: Buffer;

  private readonly tree = new SortedBufferMap();
  private readonly state: Uint8Array;
  private readonly data = new Map<number, Buffer>();
  private freeCount: number;
  private cursor = 0;
  private lsn = 0n;
  private durableLsn = 0n;
  private checkpointLsn = 0n;
  /** Log of applied transactions (copies), for crashCopy. */
  private readonly log: Array<{ lsn: bigint; tx: Transaction }> = [];
  private syncScheduled: Promise<void> | undefined;
  private closed = false;
  /** Test hook: counts syncs, to show that group commit batches. */
  syncCount = 0;

  constructor(opts: MemoryVolumeOptions = {}) {
    this.blockBytes = opts.blockBytes ?? 4096;
    this.epoch = opts.epoch ?? 1n;
    this.bootId = opts.bootId ?? randomBytes(16);
    const maxBlocks = opts.maxBlocks ?? 65536;
    this.state = new Uint8Array(maxBlocks);
    this.freeCount = maxBlocks;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('volume is closed');
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    this.assertOpen();
    return this.tree.get(key);
  }

  async scan(from: Buffer, to: Buffer | undefined, visit: (key: Buffer, value: Buffer) => boolean): Promise<void> {
    this.assertOpen();
    this.tree.scan(from, to, visit);
  }

  async apply(tx: Transaction): Promise<bigint> {
    this.assertOpen();
    // Validate before changing anything, so a bad transaction leaves the volume as it was.
    for (const e of tx.allocated ?? []) {
      for (let b = e.block; b < e.block + e.count; b++) {
        if (this.state[b] !== RESERVED) throw new Error(`apply: block ${b} allocated but not reserved`);
      }
    }
    for (const e of tx.freed ?? []) {
      for (let b = e.block; b < e.block + e.count; b++) {
        if (this.state[b] !== USED) throw new Error(`apply: block ${b} freed but not in use`);
      }
    }
    const copy: Transaction = {
      puts: tx.puts.map(([k, v]) => [Buffer.from(k), Buffer.from(v)]),
      dels: tx.dels.map((k) => Buffer.from(k)),
      allocated: tx.allocated?.map((e) => ({ ...e })),
      freed: tx.freed?.map((e) => ({ ...e })),
    };
    this.install(copy);
    this.lsn++;
    this.log.push({ lsn: this.lsn, tx: copy });
    return this.lsn;
  }

  private install(tx: Transaction): void {
    for (const k of tx.dels) this.tree.delete(k);
    for (const [k, v] of tx.puts) this.tree.set(k, v);
    for (const e of tx.allocated ?? []) this.state.fill(USED, e.block, e.block + e.count);
    for (const e of tx.freed ?? []) this.state.fill(PENDING_FREE, e.block, e.block + e.count);
  }

  async durable(lsn: bigint): Promise<void> {
    this.assertOpen();
    while (this.durableLsn < lsn) {
      // Group commit: every waiter arriving before the sync shares it.
      this.syncScheduled ??= new Promise<void>((resolve) => {
        setImmediate(() => {
          this.syncScheduled = undefined;
          this.durableLsn = this.lsn;
          this.syncCount++;
          resolve();
        });
      });
      await this.syncScheduled;
    }
  }

  async allocate(blocks: number, hint?: number): Promise<Extent[]> {
    this.assertOpen();
    if (!Number.isInteger(blocks) || blocks <= 0) throw new Error(`allocate: bad count ${blocks}`);
    if (blocks > this.freeCount) throw new VolumeFullError();
    const out: Extent[] = [];
    const n = this.state.length;
    let b = hint !== undefined && hint >= 0 && hint < n ? hint : this.cursor;
    let need = blocks;
    let scanned = 0;
    while (need > 0 && scanned < n) {
      if (this.state[b] === FREE) {
        this.state[b] = RESERVED;
        this.freeCount--;
        need--;
        const last = out[out.length - 1];
        if (last && last.block + last.count === b) last.count++;
        else out.push({ block: b, count: 1 });
      }
      b = b + 1 === n ? 0 : b + 1;
      scanned++;
    }
    this.cursor = b;
    if (need > 0) throw new Error('allocate: free count out of sync');
    return out;
  }

  unreserve(extents: Extent[]): void {
    for (const e of extents) {
      for (let b = e.block; b < e.block + e.count; b++) {
        if (this.state[b] !== RESERVED) throw new Error(`unreserve: block ${b} is not reserved`);
        this.state[b] = FREE;
        this.freeCount++;
      }
    }
  }

  private checkRange(block: number, bytes: number): void {
    if (bytes % this.blockBytes !== 0) throw new Error('I/O length is not a whole number of blocks');
    if (block < 0 || block + bytes / this.blockBytes > this.state.length) throw new Error(`I/O outside the volume: ${block}`);
  }

  async writeBlocks(block: number, data: Buffer): Promise<void> {
    this.assertOpen();
    this.checkRange(block, data.length);
    for (let i = 0; i < data.length / this.blockBytes; i++) {
      this.data.set(block + i, Buffer.from(data.subarray(i * this.blockBytes, (i + 1) * this.blockBytes)));
    }
  }

  async readBlocks(block: number, buf: Buffer): Promise<void> {
    this.assertOpen();
    this.checkRange(block, buf.length);
    for (let i = 0; i < buf.length / this.blockBytes; i++) {
      const d = this.data.get(block + i);
      if (d) d.copy(buf, i * this.blockBytes);
      else buf.fill(0, i * this.blockBytes, (i + 1) * this.blockBytes);
    }
  }

  stats(): VolumeStats {
    return {
      blockBytes: this.blockBytes,
      totalBlocks: this.state.length,
      maxBlocks: this.state.length,
      freeBlocks: this.freeCount,
      lastLsn: this.lsn,
      checkpointLsn: this.checkpointLsn,
    };
  }

  async checkpoint(): Promise<void> {
    this.assertOpen();
    for (let b = 0; b < this.state.length; b++) {
      if (this.state[b] === PENDING_FREE) {
        this.state[b] = FREE;
        this.freeCount++;
      }
    }
    this.checkpointLsn = this.lsn;
    this.log.length = 0;
    // After a checkpoint the log restarts from the tree itself: keep one synthetic record.
    const puts: Array<[Buffer, Buffer]> = [];
    this.tree.scan(Buffer.alloc(0), undefined, (k, v) => {
      puts.push([k, v]);
      return true;
    });
    this.checkpointImage = { puts, used: this.usedExtents() };
  }

  private checkpointImage: { puts: Array<[Buffer, Buffer]>; used: Extent[] } | undefined;

  async close(): Promise<void> {
    this.closed = true;
  }

  // ---- test helpers (not part of the Volume contract) ----

  /** Extents of blocks in use (named by applied transactions and not freed). */
  usedExtents(): Extent[] {
    const out: Extent[] = [];
    for (let b = 0; b < this.state.length; b++) {
      if (this.state[b] !== USED) continue;
      const last = out[out.length - 1];
      if (last && last.block + last.count === b) last.count++;
      else out.push({ block: b, count: 1 });
    }
    return out;
  }

  reservedBlocks(): number {
    let n = 0;
    for (let b = 0; b < this.state.length; b++) if (this.state[b] === RESERVED) n++;
    return n;
  }

  /** Overwrite raw block bytes (fault injection): no state change. */
  corruptBlock(block: number, byteOffset = 0): void {
    const d = this.data.get(block) ?? Buffer.alloc(this.blockBytes);
    d[byteOffset] = (d[byteOffset] ?? 0) ^ 0xff;
    this.data.set(block, d);
  }

  /** Put/delete keys directly (fault injection), bypassing the log. */
  rawPut(key: Buffer, value: Buffer): void {
    this.tree.set(Buffer.from(key), Buffer.from(value));
  }

  rawDelete(key: Buffer): void {
    this.tree.delete(key);
  }

  get lastDurableLsn(): bigint {
    return this.durableLsn;
  }

  /**
   * The volume a recovery would see after a crash now: the last checkpoint plus every
   * transaction covered by a completed sync; data blocks as written (unsynced data writes may
   * survive a crash, which is harmless because nothing durable names them).
   */
  crashCopy(opts: { bootId?: Buffer } = {}): MemoryVolume {
    const v = new MemoryVolume({
      maxBlocks: this.state.length,
      blockBytes: this.blockBytes,
      epoch: this.epoch + 1n,
      bootId: opts.bootId,
    });
    if (this.checkpointImage) {
      for (const [k, val] of this.checkpointImage.puts) v.tree.set(k, val);
      for (const e of this.checkpointImage.used) {
        v.state.fill(USED, e.block, e.block + e.count);
        v.freeCount -= e.count;
      }
    }
    for (const { lsn, tx } of this.log) {
      if (lsn > this.durableLsn) break;
      v.install(tx);
      for (const e of tx.allocated ?? []) v.freeCount -= e.count;
    }
    for (const [b, d] of this.data) v.data.set(b, Buffer.from(d));
    // Pending frees of the replayed log stay pending until the new volume checkpoints.
    v.lsn = this.durableLsn;
    v.durableLsn = this.durableLsn;
    return v;
  }
}
