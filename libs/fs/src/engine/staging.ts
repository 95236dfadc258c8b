/**
 * A transaction being built: staged puts and deletes over the volume's current state.
 *
 * Invariants: reads through the staging see the volume as it will be once the transaction is
 * applied (staged entries win over the volume); a key is staged at most once (a later put or
 * delete replaces an earlier one), so the resulting Transaction never names a key in both `puts`
 * and `dels`. The staging is only used while the engine's metadata mutex is held, so the volume
 * under it does not change. `sorted` holds the same entries as `staged` in key order, so a scan
 * finds its staged entries by binary search: a flush stages thousands of extents, each looked up
 * by a scan, and a linear pass per scan made that quadratic.
 */
import type { Extent, Transaction, Volume } from '../meta/volume';

export class Staging {
  private readonly staged = new Map<string, { key: Buffer; value: Buffer | undefined }>();
  private readonly sorted: Array<{ key: Buffer; value: Buffer | undefined }> = [];
  readonly allocated: Extent[] = [];
  readonly freed: Extent[] = [];
  /** Run after a successful apply (in-memory state that must follow the volume). */
  readonly afterApply: Array<() => void> = [];

  constructor(private readonly volume: Volume) {}

  get isEmpty(): boolean {
    return this.staged.size === 0 && this.allocated.length === 0 && this.freed.length === 0;
  }

  put(key: Buffer, value: Buffer): void {
    this.stage(key, value);
  }

  del(key: Buffer): void {
    this.stage(key, undefined);
  }

  private stage(key: Buffer, value: Buffer | undefined): void {
    const id = key.toString('latin1');
    const s = this.staged.get(id);
    if (s) {
      s.value = value;
      return;
    }
    const e = { key, value };
    this.staged.set(id, e);
    this.sorted.splice(this.lowerBound(key), 0, e);
  }

  /** Index of the first staged entry whose key is >= `key`. */
  private lowerBound(key: Buffer): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.sorted[mid]!.key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  free(e: Extent): void {
    if (e.count <= 0) return;
    const last = this.freed[this.freed.length - 1];
    if (last && last.block + last.count === e.block) last.count += e.count;
    else this.freed.push({ block: e.block, count: e.count });
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const s = this.staged.get(key.toString('latin1'));
    if (s) return s.value;
    return this.volume.get(key);
  }

  /**
   * Entries in [from, to) ascending, as they will be after this transaction; at most `limit`
   * (undefined = all). Callers keep ranges small (one name's collision slots, one extent window)
   * or pass a limit.
   */
  async scan(from: Buffer, to: Buffer, limit?: number): Promise<Array<[Buffer, Buffer]>> {
    const overlay: Array<{ key: Buffer; value: Buffer | undefined }> = [];
    for (let i = this.lowerBound(from); i < this.sorted.length && Buffer.compare(this.sorted[i]!.key, to) < 0; i++) overlay.push(this.sorted[i]!);
    // Staged deletes may hide volume entries, so read that many more than the limit.
    const volLimit = limit === undefined ? Infinity : limit + overlay.length;
    const base: Array<[Buffer, Buffer]> = [];
    await this.volume.scan(from, to, (k, v) => {
      base.push([k, v]);
      return base.length < volLimit;
    });
    if (overlay.length === 0) return limit === undefined ? base : base.slice(0, limit);
    const merged = new Map<string, [Buffer, Buffer | undefined]>();
    for (const [k, v] of base) merged.set(k.toString('latin1'), [k, v]);
    for (const s of overlay) merged.set(s.key.toString('latin1'), [s.key, s.value]);
    const out: Array<[Buffer, Buffer]> = [];
    for (const [k, v] of merged.values()) if (v !== undefined) out.push([k, v]);
    out.sort((a, b) => Buffer.compare(a[0], b[0]));
    return limit === undefined ? out : out.slice(0, limit);
  }

  toTransaction(): Transaction {
    const puts: Array<[Buffer, Buffer]> = [];
    const dels: Buffer[] = [];
    for (const s of this.staged.values()) {
      if (s.value === undefined) dels.push(s.key);
      else puts.push([s.key, s.value]);
    }
    const tx: Transaction = { puts, dels };
    if (this.allocated.length) tx.allocated = this.allocated;
    if (this.freed.length) tx.freed = this.freed;
    return tx;
  }
}
