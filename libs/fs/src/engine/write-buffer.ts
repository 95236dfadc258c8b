/**
 * One file's buffered (UNSTABLE) data: runs of whole 4 KiB blocks, each run one Buffer.
 *
 * Invariants:
 * - Runs never overlap and never cross a CHUNK_BLOCKS-aligned boundary; `chunks` maps a chunk
 *   index to its runs sorted by file block. So a lookup touches one small array, and a 1 MiB
 *   aligned WRITE becomes one run: one allocation, one copy, and later one device write.
 * - `blockCount` = the blocks of all runs.
 * - A run whose memory a flush is writing (its ArrayBuffer is in `flushing`) is never changed in
 *   place: a writer replaces it by a copy, so the bytes on the device match the crc32c computed
 *   before the write. Runs split by a truncate share their parent's ArrayBuffer, so they are
 *   protected the same way.
 * - `seq` orders runs by creation (a copy is a new run): COMMIT flushes the runs older than its
 *   start, so writers arriving meanwhile cannot keep it busy forever.
 * This module only keeps memory; the engine's file lock decides who may call what (see
 * file-system.ts).
 */
import { BLOCK_BYTES } from './layout';

/** Blocks per chunk: 1 MiB, the NFS client's usual wsize. */
export const CHUNK_BLOCKS = 256;

export interface Run {
  fileBlock: number;
  count: number;
  buf: Buffer;
  seq: number;
}

export class WriteBuffer {
  private readonly chunks = new Map<number, Run[]>();
  readonly flushing = new Set<ArrayBufferLike>();
  blockCount = 0;
  private nextSeqValue = 0;

  get nextSeq(): number {
    return this.nextSeqValue;
  }

  /** The run holding file block `b`, if any. */
  covering(b: number): Run | undefined {
    const arr = this.chunks.get(Math.floor(b / CHUNK_BLOCKS));
    if (!arr) return undefined;
    for (const r of arr) {
      if (r.fileBlock > b) return undefined;
      if (b < r.fileBlock + r.count) return r;
    }
    return undefined;
  }

  /** Copies every buffered block in [first, end) into `out` (which starts at block `first`). */
  overlay(first: number, end: number, out: Buffer): void {
    if (this.blockCount === 0) return;
    for (let c = Math.floor(first / CHUNK_BLOCKS); c * CHUNK_BLOCKS < end; c++) {
      const arr = this.chunks.get(c);
      if (!arr) continue;
      for (const r of arr) {
        const s = Math.max(first, r.fileBlock);
        const t = Math.min(end, r.fileBlock + r.count);
        if (t <= s) continue;
        r.buf.copy(out, (s - first) * BLOCK_BYTES, (s - r.fileBlock) * BLOCK_BYTES, (t - r.fileBlock) * BLOCK_BYTES);
      }
    }
  }

  /**
   * Buffers `data` at byte `start`. `edge(b)` gives the current image of a block the write
   * covers only in part and that no run holds yet (the caller reads them beforehand, since this
   * must run without yielding). Returns the number of newly buffered blocks.
   */
  write(start: number, data: Buffer, edge: (b: number) => Buffer): number {
    const end = start + data.length;
    const first = Math.floor(start / BLOCK_BYTES);
    const last = Math.floor((end - 1) / BLOCK_BYTES);
    let added = 0;
    const put = (r: Run, s: number, t: number): void => {
      // s, t: block range of r to fill from `data` (and edge images where data does not reach).
      const from = Math.max(start, s * BLOCK_BYTES);
      const to = Math.min(end, t * BLOCK_BYTES);
      data.copy(r.buf, from - r.fileBlock * BLOCK_BYTES, from - start, to - start);
    };
    const fresh = (s: number, t: number): Run => {
      const r: Run = { fileBlock: s, count: t - s, buf: Buffer.allocUnsafe((t - s) * BLOCK_BYTES), seq: this.nextSeqValue++ };
      if (s === first && start > s * BLOCK_BYTES) edge(s).copy(r.buf, 0);
      if (t - 1 === last && end < t * BLOCK_BYTES) edge(t - 1).copy(r.buf, (t - 1 - s) * BLOCK_BYTES);
      put(r, s, t);
      added += t - s;
      return r;
    };
    for (let c = Math.floor(first / CHUNK_BLOCKS); c * CHUNK_BLOCKS <= last; c++) {
      const cs = Math.max(first, c * CHUNK_BLOCKS);
      const ce = Math.min(last + 1, (c + 1) * CHUNK_BLOCKS);
      let arr = this.chunks.get(c);
      if (!arr) {
        arr = [];
        this.chunks.set(c, arr);
      }
      let pos = cs;
      let i = 0;
      for (; i < arr.length; i++) {
        let r = arr[i]!;
        const rEnd = r.fileBlock + r.count;
        if (rEnd <= cs) continue;
        if (r.fileBlock >= ce) break;
        if (r.fileBlock > pos) {
          arr.splice(i, 0, fresh(pos, r.fileBlock));
          i++;
        }
        if (this.flushing.has(r.buf.buffer)) {
          r = { fileBlock: r.fileBlock, count: r.count, buf: Buffer.from(r.buf), seq: this.nextSeqValue++ };
          arr[i] = r;
        }
        put(r, Math.max(cs, r.fileBlock), Math.min(ce, rEnd));
        pos = Math.min(ce, rEnd);
      }
      if (pos < ce) arr.splice(i, 0, fresh(pos, ce));
    }
    this.blockCount += added;
    return added;
  }

  /** Up to about `maxBlocks` blocks of runs older than `beforeSeq`, in file order. */
  select(maxBlocks: number, beforeSeq: number): Run[] {
    const out: Run[] = [];
    let n = 0;
    const keys = [...this.chunks.keys()].sort((a, b) => a - b);
    for (const c of keys) {
      for (const r of this.chunks.get(c)!) {
        if (r.seq >= beforeSeq) continue;
        out.push(r);
        n += r.count;
        if (n >= maxBlocks) return out;
      }
    }
    return out;
  }

  /** Removes `r` if it is still buffered (not replaced by a copy meanwhile); returns its blocks. */
  remove(r: Run): number {
    const c = Math.floor(r.fileBlock / CHUNK_BLOCKS);
    const arr = this.chunks.get(c);
    const i = arr ? arr.indexOf(r) : -1;
    if (i < 0) return 0;
    arr!.splice(i, 1);
    if (arr!.length === 0) this.chunks.delete(c);
    this.blockCount -= r.count;
    return r.count;
  }

  /** Drops buffered blocks in [from, to); returns how many there were. */
  drop(from: number, to: number): number {
    if (to <= from) return 0;
    let dropped = 0;
    for (const [c, arr] of [...this.chunks]) {
      if ((c + 1) * CHUNK_BLOCKS <= from || c * CHUNK_BLOCKS >= to) continue;
      const keep: Run[] = [];
      for (const r of arr) {
        const rEnd = r.fileBlock + r.count;
        if (rEnd <= from || r.fileBlock >= to) {
          keep.push(r);
          continue;
        }
        if (r.fileBlock < from) keep.push({ fileBlock: r.fileBlock, count: from - r.fileBlock, buf: r.buf.subarray(0, (from - r.fileBlock) * BLOCK_BYTES), seq: r.seq });
        if (rEnd > to) keep.push({ fileBlock: to, count: rEnd - to, buf: r.buf.subarray((to - r.fileBlock) * BLOCK_BYTES), seq: r.seq });
        dropped += Math.min(rEnd, to) - Math.max(r.fileBlock, from);
      }
      if (keep.length > 0) this.chunks.set(c, keep);
      else this.chunks.delete(c);
    }
    this.blockCount -= dropped;
    return dropped;
  }

  /** Forgets everything; returns the blocks that were buffered. */
  clear(): number {
    const n = this.blockCount;
    this.chunks.clear();
    this.blockCount = 0;
    return n;
  }
}
