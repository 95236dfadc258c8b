/**
 * How many MNTs of unknown export paths a second may load the export table (or a director's
 * routes) again. A MNT of a path created a moment ago waits for a fresh load; past the budget
 * the rest of that second are answered from the table as it is, so a client sending made-up
 * paths cannot keep the database busy. Shared by the mover's NFS service and the director.
 */
export const MNT_MISS_LOADS_PER_S = 20;

export class MissBudget {
  private windowStartMs = -Infinity;
  private used = 0;

  constructor(readonly perSecond = MNT_MISS_LOADS_PER_S) {}

  /**
   * Takes one load at `nowMs` (a monotonic clock). 'ok': load; 'first-over': the first refused in
   * this second (log it once); 'over': refused.
   */
  take(nowMs: number): 'ok' | 'first-over' | 'over' {
    if (nowMs - this.windowStartMs >= 1000) {
      this.windowStartMs = nowMs;
      this.used = 0;
    }
    this.used++;
    if (this.used <= this.perSecond) return 'ok';
    return this.used === this.perSecond + 1 ? 'first-over' : 'over';
  }
}
