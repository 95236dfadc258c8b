/**
 * The scrub's bandwidth limit: a byte-rate pacer (GCRA, "virtual scheduling"), so a scrub of a
 * busy filesystem leaves the device to client I/O.
 *
 * Invariants:
 * - Each grant moves the theoretical time `tatMs` on by bytes / rate, and waits until the time
 *   before it is reached. From the first grant, T ms later at most rate x T bytes plus the last
 *   request have been granted: the average since the start stays under the rate.
 * - Idle time earns at most `burstMs` of credit: a scrub that was slowed down (by client I/O,
 *   say) makes up at most that much, never with a long burst at full device speed; over any
 *   window of T ms at most rate x (T + burstMs) bytes plus one request are granted.
 * - A wait ends early when the signal aborts, and the grant then rejects with that abort: a
 *   throttled scrub is cancelled as promptly as an unthrottled one.
 * The clock and the sleep come from the caller, so a test can stand in for them.
 */

export interface RateLimiterOptions {
  bytesPerSecond: number;
  /** Credit that idle time may build up, in ms of the rate (default 100). */
  burstMs?: number;
  /** Monotonic milliseconds. */
  now: () => number;
  /** Resolves after `ms`, or rejects once `signal` aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export class RateLimiter {
  private readonly msPerByte: number;
  private readonly burstMs: number;
  /** The time at which the bytes granted so far have been "paid for" at the rate (unset before
   * the first grant, which starts the schedule with no credit). */
  private tatMs?: number;
  /** Milliseconds spent waiting so far (for reports and tests). */
  waitedMs = 0;

  constructor(private readonly opts: RateLimiterOptions) {
    if (!(opts.bytesPerSecond > 0) || !Number.isFinite(opts.bytesPerSecond)) throw new RangeError(`bytesPerSecond must be a positive number, got ${opts.bytesPerSecond}`);
    this.msPerByte = 1000 / opts.bytesPerSecond;
    this.burstMs = Math.max(0, opts.burstMs ?? 100);
  }

  /** Waits until `bytes` more may be used without the average exceeding the rate. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.opts.now();
    const due = this.tatMs === undefined ? now : Math.max(this.tatMs, now - this.burstMs);
    this.tatMs = due + bytes * this.msPerByte;
    // A timer may fire a little early (it counts from the event loop's cached time, in whole
    // ms), so the wait goes on until the clock has reached `due`.
    for (let t = now; t < due; t = this.opts.now()) {
      await this.opts.sleep(due - t, signal);
      this.waitedMs += this.opts.now() - t;
    }
  }
}

/** A sleep on the event loop's timers that rejects with the signal's reason when it aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
