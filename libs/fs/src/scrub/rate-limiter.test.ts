// Goal: the scrub's rate limiter grants bytes at the configured average, lets idle time earn no
// more than the burst allowance, and ends a wait at once when the signal aborts.
// Method: a fake monotonic clock whose sleep advances it (exact arithmetic), and one real timer
// for the abort.
import { describe, expect, it } from 'vitest';
import { RateLimiter, abortableSleep } from './rate-limiter';

function fakeClock(): { now: () => number; sleep: (ms: number) => Promise<void>; advance: (ms: number) => void } {
  let t = 1_000;
  return {
    now: () => t,
    sleep: async (ms) => {
      t += ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

describe('RateLimiter', () => {
  it('grants bytes at the rate on average from the first grant', async () => {
    const c = fakeClock();
    const l = new RateLimiter({ bytesPerSecond: 1000, burstMs: 100, ...c });
    const t0 = c.now();
    for (let i = 0; i < 50; i++) await l.take(100);
    // 5000 bytes at 1000 B/s = 5 s, less the last grant (which waits only for the bytes before
    // it); no initial burst.
    expect(c.now() - t0).toBe(5000 - 100);
    expect(l.waitedMs).toBe(4900);
  });

  it('gives idle time no more credit than the burst allowance', async () => {
    const c = fakeClock();
    const l = new RateLimiter({ bytesPerSecond: 1000, burstMs: 100, ...c });
    await l.take(100);
    c.advance(60_000); // a minute idle
    const t0 = c.now();
    for (let i = 0; i < 10; i++) await l.take(100);
    // 1000 bytes at 1000 B/s after the idle minute: only 100 ms of credit, and the last grant free.
    expect(c.now() - t0).toBe(1000 - 100 - 100);
  });

  it('does not wait while the caller is slower than the rate', async () => {
    const c = fakeClock();
    const l = new RateLimiter({ bytesPerSecond: 1000, burstMs: 0, ...c });
    for (let i = 0; i < 10; i++) {
      await l.take(100);
      c.advance(150); // each use takes longer than its 100 ms share
    }
    expect(l.waitedMs).toBe(0);
  });

  it('refuses a rate that is not positive', () => {
    const c = fakeClock();
    expect(() => new RateLimiter({ bytesPerSecond: 0, ...c })).toThrow(RangeError);
    expect(() => new RateLimiter({ bytesPerSecond: Number.NaN, ...c })).toThrow(RangeError);
  });

  it('ends a real wait as soon as the signal aborts', async () => {
    const l = new RateLimiter({ bytesPerSecond: 1000, burstMs: 0, now: () => performance.now(), sleep: abortableSleep });
    await l.take(10_000); // the next grant waits 10 s
    const ac = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ac.abort(new Error('stop')), 20);
    await expect(l.take(1, ac.signal)).rejects.toThrow('stop');
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
