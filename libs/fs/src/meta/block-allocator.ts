import { crc32c } from '@node-rs/crc32';
import type { Extent } from './volume';
import {
  BITMAP_HEADER_BYTES,
  BITMAP_MAGIC,
  BITMAP_SLOT_A,
  BLOCK_BYTES,
  BM,
  BITMAP_VERSION,
  GROUP_BLOCKS,
  GROUP_RESERVED_BLOCKS,
  PAGE_BLOCKS,
} from './layout';

/**
 * Block allocator over every block of the space (tree pages and file data share it).
 *
 * Invariants:
 * - A block is in exactly one state: free, reserved (handed out by `reserve`, not yet named by
 *   an applied transaction), used, or pending-free (freed, still "used" in memory so nobody
 *   reuses it, because a checkpointed tree may name it). Blocks freed before the snapshot of
 *   checkpoint N become free after the flip of N+1 (`commitSnapshot`): until then the older
 *   superblock copy still describes an intact tree, so a bad newest copy can fall back to it.
 * - The persisted view of a group (its bitmap copy) = used minus reserved minus pending-free,
 *   as of the checkpoint snapshot: exactly the blocks the checkpointed tree and the transactions
 *   up to its LSN name. Reservations never reach disk, so a crash cannot leak them.
 * - Bits of blocks past the addressable limit (space size, maxBytes) are set in memory so the
 *   search never returns them, but they are never persisted nor counted.
 * - Every change to a group's persisted view marks the group dirty; a checkpoint writes every
 *   dirty group to the slot that does not hold its current copy.
 */
const GROUP_BYTES = GROUP_BLOCKS / 8;
const WORDS = GROUP_BYTES / 4;

interface Group {
  used: Uint8Array; // includes reserved, pending-free and virtual (past the limit) bits
  words: Uint32Array; // view of `used` for fast skipping of full words
  reserved: Uint8Array | undefined;
  pending: Uint8Array | undefined;
  usedCount: number; // real blocks only (no virtual bits)
  limit: number; // blocks of this group that exist (<= GROUP_BLOCKS)
  slot: number; // which copy (0 = A, 1 = B) holds the persisted bitmap, -1 = none yet
}

export interface AllocatorCounts {
  usedBlocks: number;
  reservedBlocks: number;
  pendingFreeBlocks: number;
}

export class BlockAllocator {
  private readonly groups: Group[] = [];
  private readonly dirty = new Set<number>();
  private pendingList: Extent[] = [];
  private heldList: Extent[] = [];
  private limitBlocks = 0;
  private cursor = 0;
  private pageCursor = 0;
  reservedBlocks = 0;
  pendingFreeBlocks = 0;

  constructor(
    private maxBlockCount: number,
    private readonly logBlocks: number,
    private readonly logStartBlock: number,
  ) {}

  /** The size limit in blocks: the space is addressed up to here at most. */
  get maxBlocks(): number {
    return this.maxBlockCount;
  }

  /** Raises the size limit (online growth); blocks between the old and the new limit that the
   * space already holds become addressable at the next setAddressable. Never lowers it. */
  raiseMaxBlocks(maxBlocks: number): void {
    if (!Number.isSafeInteger(maxBlocks) || maxBlocks < this.maxBlockCount) throw new RangeError(`cannot lower the size limit from ${this.maxBlockCount} to ${maxBlocks} blocks`);
    this.maxBlockCount = maxBlocks;
  }

  get groupCount(): number {
    return this.groups.length;
  }

  get addressableBlocks(): number {
    return this.limitBlocks;
  }

  get usedBlocks(): number {
    let n = 0;
    for (const g of this.groups) n += g.usedCount;
    return n;
  }

  /** The space now has `totalBlocks` blocks: create or widen groups (new ones start dirty). */
  setAddressable(totalBlocks: number): number[] {
    const limit = Math.min(totalBlocks, this.maxBlocks);
    if (limit < this.limitBlocks) throw new Error('space shrank');
    this.limitBlocks = limit;
    const created: number[] = [];
    for (let gi = 0; ; gi++) {
      const start = gi * GROUP_BLOCKS;
      if (start + GROUP_RESERVED_BLOCKS > limit) break;
      const groupLimit = Math.min(GROUP_BLOCKS, limit - start);
      let g = this.groups[gi];
      if (!g) {
        const used = new Uint8Array(GROUP_BYTES);
        g = { used, words: new Uint32Array(used.buffer), reserved: undefined, pending: undefined, usedCount: 0, limit: 0, slot: -1 };
        this.groups[gi] = g;
        created.push(gi);
        this.dirty.add(gi);
        // Virtual bits for everything; cleared below up to the limit.
        used.fill(0xff);
        g.limit = groupLimit;
        for (let i = 0; i < groupLimit; i++) clearBit(used, i);
        this.markFixed(gi);
      } else if (groupLimit > g.limit) {
        for (let i = g.limit; i < groupLimit; i++) clearBit(g.used, i);
        g.limit = groupLimit;
        this.dirty.add(gi);
      }
    }
    return created;
  }

  /** Blocks every group holds for itself (and, in group 0, superblocks and the log). */
  private markFixed(gi: number): void {
    const g = this.group(gi);
    for (let i = 0; i < GROUP_RESERVED_BLOCKS; i++) this.setUsed(g, i);
    if (gi === 0) for (let b = this.logStartBlock; b < this.logStartBlock + this.logBlocks; b++) this.setUsed(g, b);
  }

  private setUsed(g: Group, i: number): void {
    if (!testBit(g.used, i)) {
      setBit(g.used, i);
      g.usedCount++;
    }
  }

  private group(gi: number): Group {
    const g = this.groups[gi];
    if (!g) throw new Error(`block group ${gi} does not exist`);
    return g;
  }

  isUsed(block: number): boolean {
    const g = this.groups[Math.floor(block / GROUP_BLOCKS)];
    if (!g) return false;
    const i = block % GROUP_BLOCKS;
    return i < g.limit && testBit(g.used, i);
  }

  isPendingFree(block: number): boolean {
    const g = this.groups[Math.floor(block / GROUP_BLOCKS)];
    return !!g?.pending && testBit(g.pending, block % GROUP_BLOCKS);
  }

  isReserved(block: number): boolean {
    const g = this.groups[Math.floor(block / GROUP_BLOCKS)];
    return !!g?.reserved && testBit(g.reserved, block % GROUP_BLOCKS);
  }

  /** Free blocks that exist now (not counting the room the space may still grow into). */
  freeAddressable(): number {
    let n = 0;
    for (const g of this.groups) n += g.limit - g.usedCount;
    return n;
  }

  /**
   * Reserve up to `count` blocks, first fit from `hint`, as few extents as the free space
   * allows. Returns fewer blocks than asked when the addressable space runs out.
   */
  reserve(count: number, hint?: number): Extent[] {
    const out: Extent[] = [];
    let need = count;
    const total = this.groups.length * GROUP_BLOCKS;
    if (total === 0) return out;
    let pos = hint !== undefined && hint >= 0 && hint < total ? hint : this.cursor;
    let scanned = 0;
    while (need > 0 && scanned <= total) {
      const gi = Math.floor(pos / GROUP_BLOCKS);
      const g = this.groups[gi];
      if (!g) {
        scanned += total - pos;
        pos = 0;
        continue;
      }
      if (g.usedCount >= g.limit) {
        scanned += GROUP_BLOCKS - (pos % GROUP_BLOCKS);
        pos = (gi + 1) * GROUP_BLOCKS;
        if (pos >= total) pos = 0;
        continue;
      }
      const from = pos % GROUP_BLOCKS;
      const i = findZero(g, from);
      if (i < 0) {
        scanned += GROUP_BLOCKS - from;
        pos = (gi + 1) * GROUP_BLOCKS;
        if (pos >= total) pos = 0;
        continue;
      }
      let run = 0;
      while (run < need && i + run < GROUP_BLOCKS && !testBit(g.used, i + run)) run++;
      this.markReserved(gi, g, i, run);
      out.push({ block: gi * GROUP_BLOCKS + i, count: run });
      need -= run;
      scanned += i - from + run;
      pos = gi * GROUP_BLOCKS + i + run;
      if (pos >= total) pos = 0;
    }
    this.cursor = pos;
    return out;
  }

  private markReserved(gi: number, g: Group, i: number, run: number): void {
    g.reserved ??= new Uint8Array(GROUP_BYTES);
    for (let k = i; k < i + run; k++) {
      setBit(g.used, k);
      setBit(g.reserved, k);
    }
    g.usedCount += run;
    this.reservedBlocks += run;
    this.dirty.add(gi);
  }

  /** Give back reserved blocks that no applied transaction names. */
  unreserve(extents: Extent[]): void {
    for (const e of extents) {
      this.forEach(e, (g, i, block) => {
        if (!g.reserved || !testBit(g.reserved, i)) throw new Error(`unreserve: block ${block} is not reserved`);
      });
    }
    for (const e of extents) {
      this.forEach(e, (g, i) => {
        clearBit(g.reserved!, i);
        clearBit(g.used, i);
        g.usedCount--;
        this.reservedBlocks--;
      });
    }
  }

  /** Check a transaction's extents before anything is changed (so a bad one changes nothing). */
  checkApply(allocated: Extent[] | undefined, freed: Extent[] | undefined): void {
    for (const e of allocated ?? []) {
      this.forEach(e, (g, i, block) => {
        if (testBit(g.used, i) && !(g.reserved && testBit(g.reserved, i)))
          throw new Error(`allocated block ${block} is already in use`);
      });
    }
    for (const e of freed ?? []) {
      this.forEach(e, (g, i, block, gi) => {
        if (this.isFixed(gi, i) || !testBit(g.used, i) || (g.reserved && testBit(g.reserved, i)) || (g.pending && testBit(g.pending, i)))
          throw new Error(`freed block ${block} is not in use`);
      });
    }
  }

  /** Superblocks, bitmap slots and the log: never allocated, never freed. */
  private isFixed(gi: number, i: number): boolean {
    return i < GROUP_RESERVED_BLOCKS || (gi === 0 && i >= this.logStartBlock && i < this.logStartBlock + this.logBlocks);
  }

  /** A transaction names these blocks: reserved (or free, during replay) becomes used. */
  markAllocated(e: Extent): void {
    this.forEach(e, (g, i, _block, gi) => {
      if (g.reserved && testBit(g.reserved, i)) {
        clearBit(g.reserved, i);
        this.reservedBlocks--;
      } else if (!testBit(g.used, i)) {
        setBit(g.used, i);
        g.usedCount++;
      }
      this.dirty.add(gi);
    });
  }

  /** Freed by a transaction or a copy-on-write: reusable after the next checkpoint flip. */
  markFreed(e: Extent): void {
    this.forEach(e, (g, i, _block, gi) => {
      g.pending ??= new Uint8Array(GROUP_BYTES);
      setBit(g.pending, i);
      this.dirty.add(gi);
    });
    this.pendingFreeBlocks += e.count;
    this.pendingList.push(e);
  }

  /** One tree page: PAGE_BLOCKS contiguous blocks aligned to PAGE_BLOCKS, used at once. */
  allocatePage(): number | undefined {
    const ng = this.groups.length;
    const startGroup = Math.floor(this.pageCursor / GROUP_BLOCKS);
    for (let k = 0; k <= ng; k++) {
      const gi = (startGroup + k) % ng;
      const g = this.groups[gi]!;
      if (g.limit - g.usedCount < PAGE_BLOCKS) continue;
      const from = k === 0 ? (this.pageCursor % GROUP_BLOCKS) >> 3 : 0;
      for (let byte = from; byte < GROUP_BYTES; byte++) {
        const v = g.used[byte]!;
        if (v === 0xff) continue;
        let i = -1;
        if ((v & 0x0f) === 0) i = byte * 8;
        else if ((v & 0xf0) === 0) i = byte * 8 + 4;
        if (i < 0) continue;
        for (let b = i; b < i + PAGE_BLOCKS; b++) setBit(g.used, b);
        g.usedCount += PAGE_BLOCKS;
        this.dirty.add(gi);
        const block = gi * GROUP_BLOCKS + i;
        this.pageCursor = block + PAGE_BLOCKS;
        return block;
      }
    }
    return undefined;
  }

  /** Pages a checkpoint of `pages` pages can surely place without growing. */
  canPlacePages(pages: number): boolean {
    let n = 0;
    for (const g of this.groups) {
      if (g.limit - g.usedCount < PAGE_BLOCKS) continue;
      for (let byte = 0; byte < GROUP_BYTES && n < pages; byte++) {
        const v = g.used[byte]!;
        if ((v & 0x0f) === 0) n++;
        if ((v & 0xf0) === 0) n++;
      }
      if (n >= pages) return true;
    }
    return n >= pages;
  }

  /**
   * Checkpoint snapshot (synchronous): serialize every dirty group's persisted view with
   * `seq`, and move the pending-free list aside for `commitSnapshot`.
   */
  snapshot(seq: bigint, formatSalt: bigint): { writes: Array<{ group: number; slot: number; image: Buffer }>; release: Extent[] } {
    const writes: Array<{ group: number; slot: number; image: Buffer }> = [];
    for (const gi of [...this.dirty].sort((a, b) => a - b)) {
      const g = this.group(gi);
      const image = Buffer.alloc(BLOCK_BYTES);
      const bits = image.subarray(BM.bits);
      bits.set(g.used);
      for (let i = g.limit; i < GROUP_BLOCKS; i++) clearBit(bits, i);
      if (g.reserved) for (let w = 0; w < GROUP_BYTES; w++) bits[w]! &= ~g.reserved[w]!;
      if (g.pending) for (let w = 0; w < GROUP_BYTES; w++) bits[w]! &= ~g.pending[w]!;
      let count = 0;
      for (let w = 0; w < GROUP_BYTES; w++) count += POPCOUNT[bits[w]!]!;
      image.writeUInt32LE(BITMAP_MAGIC, BM.magic);
      image.writeUInt32LE(BITMAP_VERSION, BM.version);
      image.writeUInt32LE(gi, BM.group);
      image.writeBigUInt64LE(seq, BM.seq);
      image.writeBigUInt64LE(formatSalt, BM.formatSalt);
      image.writeUInt32LE(count, BM.usedBlocks);
      image.writeUInt32LE(crc32c(image.subarray(8)), BM.crc);
      writes.push({ group: gi, slot: g.slot === 0 ? 1 : 0, image });
    }
    this.dirty.clear();
    const release = this.pendingList;
    this.pendingList = [];
    return { writes, release };
  }

  /** After the superblock flip: the snapshot's copies are current, its pending frees free. */
  commitSnapshot(writes: Array<{ group: number; slot: number }>, release: Extent[]): void {
    for (const w of writes) this.group(w.group).slot = w.slot;
    // Held back one more checkpoint: until the next flip overwrites the older superblock copy,
    // that copy's tree must stay intact, so a bad newest copy can fall back to it.
    const now = this.heldList;
    this.heldList = release;
    for (const e of now) {
      this.forEach(e, (g, i) => {
        clearBit(g.pending!, i);
        clearBit(g.used, i);
        g.usedCount--;
      });
      this.pendingFreeBlocks -= e.count;
    }
  }

  /**
   * Load a group from its two copies: the valid one with the highest seq not above the
   * superblock's. Returns false when neither copy is valid (the caller decides whether the
   * group is new since that checkpoint or corrupt).
   */
  loadGroup(gi: number, slots: Buffer, sbSeq: bigint, formatSalt: bigint): boolean {
    const g = this.group(gi);
    let best = -1;
    let bestSeq = -1n;
    let newer = false;
    for (let s = 0; s < 2; s++) {
      const img = slots.subarray(s * BLOCK_BYTES, (s + 1) * BLOCK_BYTES);
      if (img.readUInt32LE(BM.magic) !== BITMAP_MAGIC) continue;
      if (img.readUInt32LE(BM.crc) !== crc32c(img.subarray(8))) continue;
      if (img.readUInt32LE(BM.version) !== BITMAP_VERSION || img.readUInt32LE(BM.group) !== gi) continue;
      if (img.readBigUInt64LE(BM.formatSalt) !== formatSalt) continue;
      const seq = img.readBigUInt64LE(BM.seq);
      if (seq > sbSeq) {
        newer = true;
        continue;
      }
      if (seq <= bestSeq) continue;
      best = s;
      bestSeq = seq;
    }
    if (best < 0) return false;
    const bits = slots.subarray(best * BLOCK_BYTES + BITMAP_HEADER_BYTES, (best + 1) * BLOCK_BYTES);
    g.used.set(bits);
    for (let i = g.limit; i < GROUP_BLOCKS; i++) setBit(g.used, i);
    let count = 0;
    for (let i = 0; i < g.limit; i++) if (testBit(g.used, i)) count++;
    g.usedCount = count;
    this.markFixed(gi);
    g.slot = best;
    // A copy newer than the superblock was left by a checkpoint that never flipped. The next
    // checkpoint would reuse its sequence number, so it must overwrite that copy: keep the
    // group dirty (its next write goes to exactly that slot).
    if (newer) this.dirty.add(gi);
    else this.dirty.delete(gi);
    return true;
  }

  /** Extents of blocks marked used (reserved and pending-free included), ascending. */
  usedExtents(): Extent[] {
    const out: Extent[] = [];
    for (let gi = 0; gi < this.groups.length; gi++) {
      const g = this.groups[gi]!;
      let start = -1;
      for (let i = 0; i <= g.limit; i++) {
        const u = i < g.limit && testBit(g.used, i);
        if (u && start < 0) start = i;
        else if (!u && start >= 0) {
          out.push({ block: gi * GROUP_BLOCKS + start, count: i - start });
          start = -1;
        }
      }
    }
    return out;
  }

  pendingExtents(): Extent[] {
    return [...this.heldList, ...this.pendingList];
  }

  private forEach(e: Extent, fn: (g: Group, i: number, block: number, gi: number) => void): void {
    if (!Number.isSafeInteger(e.block) || !Number.isSafeInteger(e.count) || e.block < 0 || e.count <= 0)
      throw new RangeError(`bad extent ${e.block}+${e.count}`);
    if (e.block + e.count > this.limitBlocks) throw new RangeError(`extent ${e.block}+${e.count} beyond the space`);
    for (let b = e.block; b < e.block + e.count; b++) {
      const gi = Math.floor(b / GROUP_BLOCKS);
      const g = this.groups[gi];
      const i = b % GROUP_BLOCKS;
      if (!g || i >= g.limit) throw new RangeError(`block ${b} is not addressable`);
      fn(g, i, b, gi);
    }
  }
}

export function groupSlotBlock(gi: number): number {
  return gi * GROUP_BLOCKS + BITMAP_SLOT_A;
}

function testBit(a: Uint8Array, i: number): boolean {
  return (a[i >> 3]! & (1 << (i & 7))) !== 0;
}
function setBit(a: Uint8Array, i: number): void {
  a[i >> 3]! |= 1 << (i & 7);
}
function clearBit(a: Uint8Array, i: number): void {
  a[i >> 3]! &= ~(1 << (i & 7));
}

/** First clear bit at or after `from`, or -1: skips full 32-bit words. */
function findZero(g: Group, from: number): number {
  let i = from;
  while (i < GROUP_BLOCKS && (i & 31) !== 0) {
    if (!testBit(g.used, i)) return i;
    i++;
  }
  for (let w = i >> 5; w < WORDS; w++) {
    const v = g.words[w]!;
    if (v === 0xffffffff) continue;
    for (let b = 0; b < 32; b++) if ((v & (1 << b)) === 0) return w * 32 + b;
  }
  return -1;
}

const POPCOUNT = new Uint8Array(256);
for (let i = 0; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1]!;
