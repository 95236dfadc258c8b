/**
 * Decoded metadata kept in memory for the read paths: inode attributes (GETATTR, READDIRPLUS,
 * READ) and whole directory listings (READDIR, READDIRPLUS), so a warm listing or getattr
 * costs a map lookup instead of B+tree descents, page copies and decoding.
 *
 * Invariants:
 * - The volume is the truth and the engine its only writer, through Engine.mutate. Before a
 *   transaction is applied and again once the apply has settled, every inode and directory it
 *   touches is invalidated: its entry dropped and every load of it in flight marked stale.
 * - A load takes a token before it reads the volume and installs what it read only if the token
 *   is still fresh, so nothing read before or while an apply installs outlives the apply. A
 *   reader overlapping an apply may see the old or the new state, exactly as a volume read may;
 *   the modifying operation has not returned yet.
 * - Values are shared: callers never modify a cached Attr or listing (the engine copies an
 *   Attr before overlaying buffered size and times).
 * - Memory is bounded by entry counts; eviction drops the oldest entries.
 */
import { type Attr, inoKey, type InoKey } from '../api';

/** A cached inode: its attributes and, for directories, the parent (for ".."). */
export interface CachedInode {
  readonly attr: Attr;
  readonly parent: bigint;
}

/**
 * Every entry of one directory other than "." and "..", in cookie order; or, with `big`, the
 * fact that the directory has more than maxListing entries (listed from the volume instead).
 */
export interface DirListing {
  readonly big: boolean;
  readonly cookies: bigint[];
  readonly names: string[];
  readonly inos: bigint[];
}

export interface LoadToken {
  stale: boolean;
}

export class TokenCache<V> {
  // Keyed by inoKey(): a Map finds a number key several times faster than a BigInt one.
  private readonly entries = new Map<InoKey, V>();
  private readonly loading = new Map<InoKey, LoadToken[]>();
  private weight = 0;

  constructor(
    private readonly maxWeight: number,
    private readonly weightOf: (v: V) => number,
  ) {}

  get(ino: bigint): V | undefined {
    return this.entries.get(inoKey(ino));
  }

  /** Taken before a load reads the volume. */
  begin(ino: bigint): LoadToken {
    const key = inoKey(ino);
    const t = { stale: false };
    const list = this.loading.get(key);
    if (list) list.push(t);
    else this.loading.set(key, [t]);
    return t;
  }

  /** Ends a load; installs `value` (when given) only if no invalidation came since `begin`. */
  end(ino: bigint, t: LoadToken, value: V | undefined): void {
    const key = inoKey(ino);
    const list = this.loading.get(key);
    if (list) {
      const i = list.indexOf(t);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.loading.delete(key);
    }
    if (t.stale || value === undefined) return;
    const w = this.weightOf(value);
    if (w > this.maxWeight) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.weight -= this.weightOf(old);
      this.entries.delete(key);
    }
    this.entries.set(key, value);
    this.weight += w;
    for (const [k, v] of this.entries) {
      if (this.weight <= this.maxWeight) break;
      this.entries.delete(k);
      this.weight -= this.weightOf(v);
    }
  }

  invalidate(ino: bigint): void {
    this.invalidateKey(inoKey(ino));
  }

  private invalidateKey(key: InoKey): void {
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.weight -= this.weightOf(old);
    }
    const list = this.loading.get(key);
    if (list) {
      for (const t of list) t.stale = true;
      this.loading.delete(key);
    }
  }

  clear(): void {
    for (const key of [...this.loading.keys()]) this.invalidateKey(key);
    this.entries.clear();
    this.weight = 0;
  }

  get size(): number {
    return this.entries.size;
  }
}

export class ReadCache {
  readonly inodes: TokenCache<CachedInode>;
  readonly dirs: TokenCache<DirListing>;
  /** Directories longer than this are never cached whole (they are listed from the volume). */
  readonly maxListing: number;

  constructor(opts: { inodes: number; dirEntries: number; maxListing: number }) {
    this.inodes = new TokenCache(opts.inodes, () => 1);
    this.dirs = new TokenCache(opts.dirEntries, (l) => 1 + l.cookies.length);
    this.maxListing = Math.min(opts.maxListing, opts.dirEntries);
  }

  /** Drops what the inodes and directories named may have cached (see the invariants). */
  invalidate(inos: Iterable<bigint>, dirs: Iterable<bigint>): void {
    for (const ino of inos) this.inodes.invalidate(ino);
    for (const dir of dirs) this.dirs.invalidate(dir);
  }

  clear(): void {
    this.inodes.clear();
    this.dirs.clear();
  }
}
