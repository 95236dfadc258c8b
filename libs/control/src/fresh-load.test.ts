// Goal: FreshLoad never overlaps loads, and every caller waits for a load that started after
// its call; requests during a load share one more load.
// Method: loads that wait for the test to release them, and count what started when.
import { describe, expect, it } from 'vitest';
import { FreshLoad } from './fresh-load';

describe('FreshLoad', () => {
  it('runs one load at a time; callers during a load wait for one more, shared', async () => {
    const releases: Array<() => void> = [];
    let active = 0;
    let maxActive = 0;
    let started = 0;
    const f = new FreshLoad(async () => {
      started++;
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => releases.push(r));
      active--;
    });
    const order: string[] = [];
    // The first caller waits for the loop to settle too: one promise per loop, so no caller can
    // resolve on a load older than the newest request.
    const first = f.run().then(() => order.push(`first after ${started}`));
    await Promise.resolve();
    expect(started).toBe(1);
    const second = f.run().then(() => order.push(`second after ${started}`));
    const third = f.run().then(() => order.push(`third after ${started}`));
    releases.shift()!(); // the first load ends; the one asked for meanwhile starts
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toBe(2);
    expect(order).toEqual([]); // nobody is answered by a load that started before their call
    releases.shift()!();
    await Promise.all([first, second, third]);
    expect(order).toEqual(['first after 2', 'second after 2', 'third after 2']);
    expect(maxActive).toBe(1);
  });

  it('ends the wait when a load fails, and stops looping once stopped', async () => {
    let stopped = false;
    let n = 0;
    const f = new FreshLoad(
      async () => {
        n++;
        throw new Error('database down');
      },
      () => stopped,
    );
    await f.run();
    expect(n).toBe(1);
    stopped = true;
    const a = f.run();
    void f.run(); // asked during the load, but stopped: no second load
    await a;
    expect(n).toBe(2);
  });
});
