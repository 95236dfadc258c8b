import { crc32c } from '@node-rs/crc32';
import { CorruptionError } from './volume';
import {
  INTERNAL_ENTRY_HEADER_BYTES,
  LEAF_ENTRY_HEADER_BYTES,
  PAGE,
  PAGE_BYTES,
  PAGE_CAPACITY_BYTES,
  PAGE_HEADER_BYTES,
  PAGE_INTERNAL,
  PAGE_LEAF,
  PAGE_MAGIC,
  SLOT_BYTES,
  readU64,
  writeU64,
} from './layout';

/**
 * Copy-on-write B+tree of PAGE_BYTES pages with a bounded cache of clean pages.
 *
 * Invariants:
 * - A node is either clean (its bytes are a verified page at `addr`, immutable, shared with
 *   the cache and with in-flight checkpoint writes) or dirty (decoded arrays, `addr` = -1, not
 *   on disk). A checkpointed page is never modified: dirtying decodes it into a new in-memory
 *   form and hands its blocks to `freePage` (reusable only after the next superblock flip).
 * - Parents of dirty nodes are dirty, so the dirty nodes form a subtree hanging from the root
 *   and are reachable only through it; a child slot holds a Node exactly when it is dirty,
 *   otherwise the child's block number. Clean nodes live in the cache keyed by block number
 *   and may be evicted at any time; dirty nodes are never evicted (they live until the next
 *   checkpoint, whose threshold keeps them bounded).
 * - Every mutation is synchronous over resident nodes, so readers never see half a change;
 *   callers first load (async) every page their keys' paths need, then mutate in one go.
 * - Internal entry i covers keys >= key i and < key i+1; key 0 is ignored by searches (the
 *   parent already bounds the node from below).
 * - A page read from disk is verified (magic, checksum, its own address, volume id, every
 *   entry inside the page) before any field is used; a failure is a CorruptionError naming
 *   the page, never wrong data. A read that raced with a superblock flip is discarded.
 */

export interface PageIO {
  readPage(block: number): Promise<Buffer>;
}

const EMPTY = Buffer.alloc(0);

export class Node {
  level: number;
  addr: number; // first block of the page when clean, -1 when dirty
  page: Buffer | undefined; // clean form
  count: number;
  keys: Buffer[] | undefined; // dirty form
  vals: Buffer[] | undefined; // dirty leaf
  kids: Array<number | Node> | undefined; // dirty internal
  bytes: number; // dirty: entry bytes + slots
  hot = true;

  private constructor(level: number) {
    this.level = level;
    this.addr = -1;
    this.page = undefined;
    this.count = 0;
    this.keys = undefined;
    this.vals = undefined;
    this.kids = undefined;
    this.bytes = 0;
  }

  static emptyLeaf(): Node {
    const n = new Node(0);
    n.keys = [];
    n.vals = [];
    return n;
  }

  static emptyInternal(level: number): Node {
    const n = new Node(level);
    n.keys = [];
    n.kids = [];
    return n;
  }

  static clean(page: Buffer, addr: number): Node {
    const n = new Node(page[PAGE.level]!);
    n.addr = addr;
    n.page = page;
    n.count = page.readUInt16LE(PAGE.count);
    return n;
  }

  get isLeaf(): boolean {
    return this.level === 0;
  }

  /** Offset of entry i in a clean page. */
  off(i: number): number {
    return this.page!.readUInt16LE(PAGE.slots + i * SLOT_BYTES);
  }

  /** Compare `key` with stored key i: <0 if key sorts before it. Hand-inlined: this is the
   * innermost loop of every lookup, and a native compare call costs more than short keys. */
  cmp(key: Buffer, i: number): number {
    const p = this.page;
    if (p === undefined) return compareBytes(key, this.keys![i]!, 0, this.keys![i]!.length);
    const so = PAGE.slots + i * SLOT_BYTES;
    const o = p[so]! | (p[so + 1]! << 8);
    const k = p[o]! | (p[o + 1]! << 8);
    return compareBytes(key, p, o + (this.level === 0 ? LEAF_ENTRY_HEADER_BYTES : INTERNAL_ENTRY_HEADER_BYTES), k);
  }

  keyAt(i: number): Buffer {
    if (this.page === undefined) return this.keys![i]!;
    const p = this.page;
    const o = this.off(i);
    const k = p.readUInt16LE(o);
    const ks = o + (this.level === 0 ? LEAF_ENTRY_HEADER_BYTES : INTERNAL_ENTRY_HEADER_BYTES);
    return p.subarray(ks, ks + k);
  }

  valAt(i: number): Buffer {
    if (this.page === undefined) return this.vals![i]!;
    const p = this.page;
    const o = this.off(i);
    const k = p.readUInt16LE(o);
    const v = p.readUInt16LE(o + 2);
    const vs = o + LEAF_ENTRY_HEADER_BYTES + k;
    return p.subarray(vs, vs + v);
  }

  kidAt(i: number): number | Node {
    if (this.page === undefined) return this.kids![i]!;
    return readU64(this.page, this.off(i) + 4);
  }

  /** First index whose key is >= key (count if none). */
  lowerBound(key: Buffer): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmp(key, mid) > 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Internal: index of the child covering key. */
  childIndex(key: Buffer): number {
    let lo = 1;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmp(key, mid) >= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** Turn a clean node into its dirty (decoded) form; keys and values view the old page. */
  decode(): void {
    const p = this.page!;
    const n = this.count;
    const keys: Buffer[] = new Array<Buffer>(n);
    let bytes = 0;
    if (this.level === 0) {
      const vals: Buffer[] = new Array<Buffer>(n);
      for (let i = 0; i < n; i++) {
        const o = this.off(i);
        const k = p.readUInt16LE(o);
        const v = p.readUInt16LE(o + 2);
        keys[i] = p.subarray(o + 4, o + 4 + k);
        vals[i] = p.subarray(o + 4 + k, o + 4 + k + v);
        bytes += SLOT_BYTES + LEAF_ENTRY_HEADER_BYTES + k + v;
      }
      this.vals = vals;
    } else {
      const kids: Array<number | Node> = new Array<number | Node>(n);
      for (let i = 0; i < n; i++) {
        const o = this.off(i);
        const k = p.readUInt16LE(o);
        kids[i] = readU64(p, o + 4);
        keys[i] = p.subarray(o + 12, o + 12 + k);
        bytes += SLOT_BYTES + INTERNAL_ENTRY_HEADER_BYTES + k;
      }
      this.kids = kids;
    }
    this.keys = keys;
    this.bytes = bytes;
    this.page = undefined;
    this.addr = -1;
  }

  /** Serialize a dirty node (all kids already block numbers) as the page at `addr`. */
  encode(addr: number, lsn: bigint, formatSalt: bigint): Buffer {
    const p = Buffer.allocUnsafeSlow(PAGE_BYTES);
    const n = this.count;
    p.writeUInt32LE(PAGE_MAGIC, PAGE.magic);
    p[PAGE.kind] = this.level === 0 ? PAGE_LEAF : PAGE_INTERNAL;
    p[PAGE.level] = this.level;
    p.writeUInt16LE(n, PAGE.count);
    p.writeBigUInt64LE(lsn, PAGE.lsn);
    writeU64(p, PAGE.selfBlock, addr);
    p.writeBigUInt64LE(formatSalt, PAGE.formatSalt);
    let o = PAGE_HEADER_BYTES + n * SLOT_BYTES;
    const keys = this.keys!;
    for (let i = 0; i < n; i++) {
      p.writeUInt16LE(o, PAGE.slots + i * SLOT_BYTES);
      const key = keys[i]!;
      p.writeUInt16LE(key.length, o);
      if (this.level === 0) {
        const v = this.vals![i]!;
        p.writeUInt16LE(v.length, o + 2);
        p.set(key, o + 4);
        p.set(v, o + 4 + key.length);
        o += 4 + key.length + v.length;
      } else {
        const kid = this.kids![i]!;
        if (typeof kid !== 'number') throw new Error('encode: dirty child under a page being written');
        p.writeUInt16LE(0, o + 2);
        writeU64(p, o + 4, kid);
        p.set(key, o + 12);
        o += 12 + key.length;
      }
    }
    if (o > PAGE_BYTES) throw new Error(`page overflow: ${o} bytes`);
    p.writeUInt32LE(o, PAGE.dataEnd);
    p.fill(0, o);
    p.writeUInt32LE(crc32c(p.subarray(8)), PAGE.crc);
    return p;
  }
}

/** Verify a page read from `addr`; throws CorruptionError naming it. */
export function verifyPage(p: Buffer, addr: number, formatSalt: bigint): void {
  const bad = (why: string): never => {
    throw new CorruptionError(`page ${addr}`, why);
  };
  if (p.length !== PAGE_BYTES) bad('short page');
  if (p.readUInt32LE(PAGE.magic) !== PAGE_MAGIC) bad('bad magic');
  if (p.readUInt32LE(PAGE.crc) !== crc32c(p.subarray(8))) bad('checksum mismatch');
  if (readU64(p, PAGE.selfBlock) !== addr) bad(`page claims block ${readU64(p, PAGE.selfBlock)}`);
  if (p.readBigUInt64LE(PAGE.formatSalt) !== formatSalt) bad('page of another volume or format');
  const kind = p[PAGE.kind]!;
  const level = p[PAGE.level]!;
  if (!((kind === PAGE_LEAF && level === 0) || (kind === PAGE_INTERNAL && level > 0))) bad(`bad kind ${kind}/level ${level}`);
  const count = p.readUInt16LE(PAGE.count);
  const end = p.readUInt32LE(PAGE.dataEnd);
  const first = PAGE_HEADER_BYTES + count * SLOT_BYTES;
  if (end > PAGE_BYTES || first > end) bad('bad entry area');
  if (kind === PAGE_INTERNAL && count === 0) bad('empty internal page');
  for (let i = 0; i < count; i++) {
    const o = p.readUInt16LE(PAGE.slots + i * SLOT_BYTES);
    const hdr = kind === PAGE_LEAF ? LEAF_ENTRY_HEADER_BYTES : INTERNAL_ENTRY_HEADER_BYTES;
    if (o < first || o + hdr > end) bad(`entry ${i} outside the page`);
    const k = p.readUInt16LE(o);
    const v = kind === PAGE_LEAF ? p.readUInt16LE(o + 2) : 0;
    if (o + hdr + k + v > end) bad(`entry ${i} overruns the page`);
  }
}

export interface TreeHooks {
  /** Blocks of a checkpointed page that is superseded (reusable after the next flip). */
  freePage(addr: number): void;
}

export type GetResult = Buffer | undefined | number; // number: block of a page to load first

export class BTree {
  root: Node | number;
  height: number;
  dirtyCount = 0;
  /** Bumped at every superblock flip: a page read that spans one may see a reused block. */
  flipGen = 0;
  private readonly cache = new Map<number, Node>();
  private readonly loading = new Map<number, Promise<void>>();
  /** Pages written by a checkpoint in flight: served from memory until their write is done. */
  readonly writing = new Map<number, Buffer>();
  private readonly pathNodes: Node[] = [];
  private readonly pathIdx: number[] = [];
  pagesRead = 0;

  constructor(
    private readonly io: PageIO,
    private readonly hooks: TreeHooks,
    readonly formatSalt: bigint,
    private readonly cachePages: number,
    root: number | undefined,
    height: number,
  ) {
    if (root === undefined) {
      this.root = Node.emptyLeaf();
      this.dirtyCount = 1;
      this.height = 1;
    } else {
      this.root = root;
      this.height = height;
    }
  }

  get cachedPages(): number {
    return this.cache.size;
  }

  /** Resident node for a child slot, or undefined when its page must be loaded. */
  private resolve(ref: number | Node): Node | undefined {
    if (typeof ref !== 'number') return ref;
    const n = this.cache.get(ref);
    if (n) n.hot = true;
    return n;
  }

  private checkLevel(n: Node, level: number): void {
    if (n.level !== level) throw new CorruptionError(`page ${n.addr}`, `level ${n.level}, expected ${level}`);
  }

  getSync(key: Buffer): GetResult {
    let ref = this.root;
    let level = this.height - 1;
    for (;;) {
      const n = this.resolve(ref);
      if (!n) return ref as number;
      if (n.level !== level) this.checkLevel(n, level);
      if (level === 0) {
        const i = n.lowerBound(key);
        if (i < n.count && n.cmp(key, i) === 0) {
          const v = n.valAt(i);
          const out = Buffer.allocUnsafe(v.length);
          out.set(v);
          return out;
        }
        return undefined;
      }
      ref = n.kidAt(n.childIndex(key));
      level--;
    }
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    for (;;) {
      const r = this.getSync(key);
      if (typeof r !== 'number') return r;
      await this.load(r);
    }
  }

  /** Block of the first page missing on key's path, or -1 when the path is resident. */
  missingOnPath(key: Buffer): number {
    let ref = this.root;
    let level = this.height - 1;
    for (;;) {
      const n = this.resolve(ref);
      if (!n) return ref as number;
      if (n.level !== level) this.checkLevel(n, level);
      if (level === 0) return -1;
      ref = n.kidAt(n.childIndex(key));
      level--;
    }
  }

  load(addr: number): Promise<void> {
    let p = this.loading.get(addr);
    if (!p) {
      p = this.doLoad(addr).finally(() => this.loading.delete(addr));
      this.loading.set(addr, p);
    }
    return p;
  }

  private async doLoad(addr: number): Promise<void> {
    const inflight = this.writing.get(addr);
    if (inflight) {
      this.insert(Node.clean(inflight, addr));
      return;
    }
    const gen = this.flipGen;
    const page = await this.io.readPage(addr);
    this.pagesRead++;
    // The block may have been freed and rewritten while we read: retry from the new tree.
    if (gen !== this.flipGen || this.cache.has(addr)) return;
    const w = this.writing.get(addr);
    if (w) {
      this.insert(Node.clean(w, addr));
      return;
    }
    verifyPage(page, addr, this.formatSalt);
    this.insert(Node.clean(page, addr));
  }

  private insert(n: Node): void {
    this.cache.set(n.addr, n);
    if (this.cache.size > this.cachePages) this.evict();
  }

  /** CLOCK over the Map's insertion order: a page touched since the last pass gets another. */
  private evict(): void {
    let budget = this.cache.size * 2;
    for (const [addr, n] of this.cache) {
      if (this.cache.size <= this.cachePages || budget-- <= 0) break;
      this.cache.delete(addr);
      if (n.hot) {
        n.hot = false;
        this.cache.set(addr, n);
      }
    }
  }

  /** Fill the path for key; false (nothing changed) when a page is not resident. */
  private descend(key: Buffer): boolean {
    const nodes = this.pathNodes;
    const idx = this.pathIdx;
    nodes.length = 0;
    idx.length = 0;
    let ref = this.root;
    let level = this.height - 1;
    for (;;) {
      const n = this.resolve(ref);
      if (!n) return false;
      if (n.level !== level) this.checkLevel(n, level);
      nodes.push(n);
      if (level === 0) return true;
      const ci = n.childIndex(key);
      idx.push(ci);
      ref = n.kidAt(ci);
      level--;
    }
  }

  private makeDirty(n: Node): void {
    const addr = n.addr;
    this.cache.delete(addr);
    n.decode();
    this.hooks.freePage(addr);
    this.dirtyCount++;
  }

  /** Dirty every node of the current path top-down, relinking each into its dirty parent. */
  private dirtyPath(): void {
    const nodes = this.pathNodes;
    for (let d = 0; d < nodes.length; d++) {
      const n = nodes[d]!;
      if (n.page === undefined) continue;
      this.makeDirty(n);
      if (d === 0) this.root = n;
      else nodes[d - 1]!.kids![this.pathIdx[d - 1]!] = n;
    }
  }

  /** Insert or replace; the path must be resident (see missingOnPath). */
  put(key: Buffer, val: Buffer): void {
    if (!this.descend(key)) throw new Error('put: path not resident');
    this.dirtyPath();
    const nodes = this.pathNodes;
    const leaf = nodes[nodes.length - 1]!;
    const i = leaf.lowerBound(key);
    if (i < leaf.count && leaf.cmp(key, i) === 0) {
      leaf.bytes += val.length - leaf.vals![i]!.length;
      leaf.vals![i] = val;
    } else {
      leaf.keys!.splice(i, 0, key);
      leaf.vals!.splice(i, 0, val);
      leaf.count++;
      leaf.bytes += SLOT_BYTES + LEAF_ENTRY_HEADER_BYTES + key.length + val.length;
    }
    for (let d = nodes.length - 1; d >= 0; d--) {
      const n = nodes[d]!;
      if (n.bytes <= PAGE_CAPACITY_BYTES) break;
      const right = this.split(n);
      const sep = right.keys![0]!;
      if (d === 0) {
        const root = Node.emptyInternal(n.level + 1);
        root.keys!.push(EMPTY, sep);
        root.kids!.push(n, right);
        root.count = 2;
        root.bytes = 2 * (SLOT_BYTES + INTERNAL_ENTRY_HEADER_BYTES) + sep.length;
        this.root = root;
        this.height++;
        this.dirtyCount++;
      } else {
        const parent = nodes[d - 1]!;
        const at = this.pathIdx[d - 1]! + 1;
        parent.keys!.splice(at, 0, sep);
        parent.kids!.splice(at, 0, right);
        parent.count++;
        parent.bytes += SLOT_BYTES + INTERNAL_ENTRY_HEADER_BYTES + sep.length;
      }
    }
  }

  private entryBytes(n: Node, i: number): number {
    return n.level === 0
      ? SLOT_BYTES + LEAF_ENTRY_HEADER_BYTES + n.keys![i]!.length + n.vals![i]!.length
      : SLOT_BYTES + INTERNAL_ENTRY_HEADER_BYTES + n.keys![i]!.length;
  }

  /** Move the upper half (by bytes) of a dirty node into a new right sibling. */
  private split(n: Node): Node {
    const half = n.bytes / 2;
    let acc = 0;
    let s = 0;
    while (s < n.count && acc < half) acc += this.entryBytes(n, s++);
    s = Math.min(Math.max(s, 1), n.count - 1);
    acc = 0;
    for (let i = 0; i < s; i++) acc += this.entryBytes(n, i);
    const right = n.level === 0 ? Node.emptyLeaf() : Node.emptyInternal(n.level);
    right.keys = n.keys!.splice(s);
    if (n.level === 0) right.vals = n.vals!.splice(s);
    else right.kids = n.kids!.splice(s);
    right.count = n.count - s;
    right.bytes = n.bytes - acc;
    n.count = s;
    n.bytes = acc;
    this.dirtyCount++;
    return right;
  }

  /** Delete; returns false (nothing dirtied) when the key is absent. Path must be resident. */
  del(key: Buffer): boolean {
    if (!this.descend(key)) throw new Error('del: path not resident');
    const nodes = this.pathNodes;
    const leaf0 = nodes[nodes.length - 1]!;
    const i = leaf0.lowerBound(key);
    if (i >= leaf0.count || leaf0.cmp(key, i) !== 0) return false;
    this.dirtyPath();
    const leaf = nodes[nodes.length - 1]!;
    leaf.bytes -= this.entryBytes(leaf, i);
    leaf.keys!.splice(i, 1);
    leaf.vals!.splice(i, 1);
    leaf.count--;
    for (let d = nodes.length - 1; d >= 1; d--) {
      const n = nodes[d]!;
      const parent = nodes[d - 1]!;
      const pi = this.pathIdx[d - 1]!;
      // Removing an empty node hands its key range to a neighbour; later keys of this
      // transaction may land there, so only a resident neighbour may take it (otherwise the
      // empty leaf stays, which is legal, unless a merge with a resident sibling applies).
      if (n.count === 0 && parent.count >= 2 && this.resolve(parent.kids![pi === 0 ? 1 : pi - 1]!)) {
        this.removeEntry(parent, pi);
        this.dirtyCount--;
        continue;
      }
      if (n.bytes >= PAGE_CAPACITY_BYTES / 4 || !this.tryMerge(parent, pi, n)) break;
    }
    this.collapseRoot();
    return true;
  }

  private removeEntry(parent: Node, i: number): void {
    parent.bytes -= this.entryBytes(parent, i);
    parent.keys!.splice(i, 1);
    parent.kids!.splice(i, 1);
    parent.count--;
  }

  /** Merge an underfull dirty node with a resident sibling when both fit one page. */
  private tryMerge(parent: Node, pi: number, n: Node): boolean {
    for (const si of [pi - 1, pi + 1]) {
      if (si < 0 || si >= parent.count) continue;
      const sib = this.resolve(parent.kids![si]!);
      if (!sib) continue;
      const leftIdx = Math.min(si, pi);
      const rightIdx = leftIdx + 1;
      const sepBytes = n.level === 0 ? 0 : parent.keys![rightIdx]!.length;
      const sibBytes = sib.page === undefined ? sib.bytes : pageBytesUsed(sib);
      if (sibBytes + n.bytes + sepBytes > (PAGE_CAPACITY_BYTES * 3) / 4) continue;
      if (sib.page !== undefined) {
        this.makeDirty(sib);
        parent.kids![si] = sib;
      }
      const left = parent.kids![leftIdx] as Node;
      const right = parent.kids![rightIdx] as Node;
      if (n.level > 0) {
        // Right's key 0 was ignored; in the merged node it must be the real separator.
        right.bytes += parent.keys![rightIdx]!.length - right.keys![0]!.length;
        right.keys![0] = parent.keys![rightIdx]!;
      }
      left.keys!.push(...right.keys!);
      if (n.level === 0) left.vals!.push(...right.vals!);
      else left.kids!.push(...right.kids!);
      left.count += right.count;
      left.bytes += right.bytes;
      this.removeEntry(parent, rightIdx);
      this.dirtyCount--;
      return true;
    }
    return false;
  }

  private collapseRoot(): void {
    for (;;) {
      const r = this.root;
      if (typeof r === 'number' || r.level === 0) return;
      if (r.page !== undefined) return;
      if (r.count === 1) {
        // Only onto a resident child: the rest of the transaction must find its paths
        // resident, and a one-child root is legal until a later delete collapses it.
        const only = this.resolve(r.kids![0]!);
        if (!only) return;
        this.root = only.page === undefined ? only : only.addr;
        this.height--;
        this.dirtyCount--;
      } else if (r.count === 0) {
        this.root = Node.emptyLeaf();
        this.height = 1;
        return;
      } else return;
    }
  }

  /**
   * Visit one leaf's worth of [from, to): returns 'done', a block to load, or the key to
   * resume from. Entries are copied before any visit so a visitor that mutates the tree
   * cannot disturb the iteration.
   */
  scanStep(from: Buffer, to: Buffer | undefined, visit: (k: Buffer, v: Buffer) => boolean): 'done' | number | Buffer {
    let ref = this.root;
    let level = this.height - 1;
    let upper: Buffer | undefined;
    for (;;) {
      const n = this.resolve(ref);
      if (!n) return ref as number;
      if (n.level !== level) this.checkLevel(n, level);
      if (level === 0) {
        const start = n.lowerBound(from);
        const ks: Buffer[] = [];
        const vs: Buffer[] = [];
        for (let i = start; i < n.count; i++) {
          if (to !== undefined && n.cmp(to, i) <= 0) {
            upper = undefined;
            break;
          }
          ks.push(Buffer.from(n.keyAt(i)));
          vs.push(Buffer.from(n.valAt(i)));
        }
        for (let i = 0; i < ks.length; i++) if (!visit(ks[i]!, vs[i]!)) return 'done';
        if (upper === undefined || (to !== undefined && to.compare(upper) <= 0)) return 'done';
        return Buffer.from(upper);
      }
      const ci = n.childIndex(from);
      if (ci + 1 < n.count) upper = n.keyAt(ci + 1);
      ref = n.kidAt(ci);
      level--;
    }
  }

  async scan(from: Buffer, to: Buffer | undefined, visit: (k: Buffer, v: Buffer) => boolean): Promise<void> {
    let cur = from;
    for (;;) {
      const r = this.scanStep(cur, to, visit);
      if (r === 'done') return;
      if (typeof r === 'number') await this.load(r);
      else cur = r;
    }
  }

  /**
   * Checkpoint snapshot (synchronous): give every dirty node a page, children first, turn it
   * clean and return the pages to write. The nodes become clean at once, so transactions
   * applied while the writes are in flight dirty fresh copies and free the new blocks.
   */
  snapshot(allocPage: () => number, lsn: bigint): Array<{ addr: number; page: Buffer }> {
    const out: Array<{ addr: number; page: Buffer }> = [];
    const flush = (n: Node): number => {
      const kids = n.kids;
      if (kids) for (let i = 0; i < kids.length; i++) {
        const k = kids[i]!;
        if (typeof k !== 'number') kids[i] = flush(k);
      }
      const addr = allocPage();
      const page = n.encode(addr, lsn, this.formatSalt);
      n.keys = undefined;
      n.vals = undefined;
      n.kids = undefined;
      n.bytes = 0;
      n.page = page;
      n.addr = addr;
      n.hot = true;
      this.writing.set(addr, page);
      this.cache.set(addr, n);
      out.push({ addr, page });
      return addr;
    };
    if (typeof this.root !== 'number') this.root = flush(this.root);
    this.dirtyCount = 0;
    if (this.cache.size > this.cachePages) this.evict();
    return out;
  }

  /** Every checkpoint write is on disk: those pages may now be read back from the device. */
  writesDone(pages: Array<{ addr: number }>): void {
    for (const p of pages) this.writing.delete(p.addr);
  }
}

/** memcmp order of a against b[bs, bs+bl), shorter first on a common prefix. */
export function compareBytes(a: Buffer, b: Uint8Array, bs: number, bl: number): number {
  const n = a.length < bl ? a.length : bl;
  for (let j = 0; j < n; j++) {
    const d = a[j]! - b[bs + j]!;
    if (d !== 0) return d;
  }
  return a.length - bl;
}

function pageBytesUsed(n: Node): number {
  return n.page!.readUInt32LE(PAGE.dataEnd) - PAGE_HEADER_BYTES;
}
