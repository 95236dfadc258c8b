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
    const lo = this.lowerBound(from);
    let hi = lo;
    while (hi < this.sorted.length && Buffer.compare(this.sorted[hi]!.key, to) < 0) hi++;
    // Copied before the volume scan awaits, as the entries are at the call.
    const overlay = hi > lo ? this.sorted.slice(lo, hi) : undefined;
    // Staged deletes may hide volume entries, so read that many more than the limit.
    const volLimit = limit === undefined ? Infinity : limit + (hi - lo);
    const base: Array<[Buffer, Buffer]> = [];
    await this.volume.scan(from, to, (k, v) => {
      base.push([k, v]);
      return base.length < volLimit;
    });
    if (!overlay) return limit === undefined ? base : base.slice(0, limit);
    // Both sides are in key order: a linear merge, the staged entry winning on an equal key.
    const max = limit === undefined ? Infinity : limit;
    const out: Array<[Buffer, Buffer]> = [];
    let i = 0;
    let j = 0;
    while (out.length < max && (i < base.length || j < overlay.length)) {
      if (j === overlay.length) {
        out.push(base[i++]!);
        continue;
      }
      const s = overlay[j]!;
      if (i < base.length) {
        const c = Buffer.compare(base[i]![0], s.key);
        if (c < 0) {
          out.push(base[i++]!);
          continue;
        }
        if (c === 0) i++;
      }
      j++;
      if (s.value !== undefined) out.push([s.key, s.value]);
    }
    return out;
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
