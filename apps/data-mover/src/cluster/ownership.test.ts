/**
 * Goal: a mover renews exactly the leases its own process acquired, and judges only those: a lease
 * acquired while a renewal was in flight is not taken for lost, a lease the renewal did not return
 * is fenced and dropped, and servingEpoch names the epoch a filesystem is served under. Usage
 * figures of served filesystems ride on later renewals, at most as often as configured, and never
 * keep a renewal from happening.
 * Method: Ownership over a stand-in LeaseStore whose answers the test releases by hand, and
 * stand-in filesystems that record what was opened and dropped.
 */
import { describe, expect, it } from 'vitest';
import type { FsUsage, HeldLease, LeaseStore, TickResult, UsageReports } from '@ferry/control';
import { Ownership, type OwnedFilesystems } from './ownership';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
const settle = () => new Promise((r) => setTimeout(r, 10));
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

class FakeStore {
  readonly leaseMs = 3000;
  ticks: Array<{ mine: HeldLease[] | undefined; usage: UsageReports | undefined; answer: ReturnType<typeof deferred<TickResult>> }> = [];
  acquires: Array<ReturnType<typeof deferred<bigint | undefined>>> = [];
  tick(_moverId: string, mine?: HeldLease[], usage?: UsageReports): Promise<TickResult> {
    const answer = deferred<TickResult>();
    this.ticks.push({ mine, usage, answer });
    return answer.promise;
  }
  acquire(): Promise<bigint | undefined> {
    const d = deferred<bigint | undefined>();
    this.acquires.push(d);
    return d.promise;
  }
  async setServing(): Promise<boolean> {
    return true;
  }
  async release(): Promise<boolean> {
    return true;
  }
}

function setup(usage?: (fsid: bigint) => Promise<FsUsage | undefined>, usageEveryMs?: number) {
  const store = new FakeStore();
  const log: string[] = [];
  const owned: OwnedFilesystems = {
    open: async (fsid) => void log.push(`open ${fsid}`),
    release: async (fsid) => void log.push(`release ${fsid}`),
    drop: async (fsid) => void log.push(`drop ${fsid}`),
    refreshPool: async () => undefined,
    ...(usage ? { usage } : {}),
  };
  const ownership = new Ownership(store as unknown as LeaseStore, 'me', owned, silent, undefined, { usageEveryMs });
  return { store, log, ownership };
}

const assigned = (fsid: bigint) => ({ fsid, filesystemId: `fs-${fsid}`, ownerMoverId: null, epoch: 0n, takeable: true });

describe('Ownership renewals', () => {
  it('names its own leases, and does not take one acquired during a renewal for lost', async () => {
    const { store, log, ownership } = setup();
    // Tick 1: fs 7 is assigned here; the take-over starts and waits in acquire.
    const t1 = ownership.tick();
    expect(store.ticks[0]!.mine).toEqual([]);
    store.ticks[0]!.answer.resolve({ held: [], assigned: [assigned(7n)], moverState: 'active' });
    await t1;
    expect(store.acquires).toHaveLength(1);
    // Tick 2 is sent before the acquisition commits, so it neither names nor renews fs 7 ...
    const t2 = ownership.tick();
    expect(store.ticks[1]!.mine).toEqual([]);
    store.acquires[0]!.resolve(5n);
    await settle();
    expect(ownership.servingEpoch(7n)).toBe(5n);
    // ... and its answer (without fs 7) must not make the mover drop it.
    store.ticks[1]!.answer.resolve({ held: [], assigned: [assigned(7n)], moverState: 'active' });
    await t2;
    await settle();
    expect(log).toEqual(['open 7']);
    expect(ownership.servingEpoch(7n)).toBe(5n);
    // Tick 3 names it with its epoch; an answer without it means it was lost: fenced, dropped.
    const t3 = ownership.tick();
    expect(store.ticks[2]!.mine).toEqual([{ fsid: 7n, epoch: 5n }]);
    store.ticks[2]!.answer.resolve({ held: [], assigned: [], moverState: 'active' });
    await t3;
    await settle();
    expect(log).toEqual(['open 7', 'drop 7']);
    expect(ownership.servingEpoch(7n)).toBeUndefined();
  });

  it('keeps serving while renewals return its lease with its epoch', async () => {
    const { store, log, ownership } = setup();
    const t1 = ownership.tick();
    store.ticks[0]!.answer.resolve({ held: [], assigned: [assigned(3n)], moverState: 'active' });
    await t1;
    store.acquires[0]!.resolve(2n);
    await settle();
    for (let i = 1; i <= 3; i++) {
      const t = ownership.tick();
      expect(store.ticks[i]!.mine).toEqual([{ fsid: 3n, epoch: 2n }]);
      store.ticks[i]!.answer.resolve({ held: [{ fsid: 3n, epoch: 2n }], assigned: [assigned(3n)], moverState: 'active' });
      await t;
    }
    await settle();
    expect(log).toEqual(['open 3']);
    expect(ownership.servingEpoch(3n)).toBe(2n);
    expect(ownership.servingEpoch(4n)).toBeUndefined();
  });
});

describe('Ownership usage reports', () => {
  const figures = (usedBytes: number): FsUsage => ({ sizeBytes: 1 << 30, usedBytes, freeBytes: (1 << 30) - usedBytes, files: 3, freeFiles: 99 });

  /** Serves fs 3 under epoch 2 (one tick to be assigned, the acquire answered). */
  async function serving(usage: (fsid: bigint) => Promise<FsUsage | undefined>, usageEveryMs?: number) {
    const t = setup(usage, usageEveryMs);
    const t1 = t.ownership.tick();
    t.store.ticks[0]!.answer.resolve({ held: [], assigned: [assigned(3n)], moverState: 'active' });
    await t1;
    t.store.acquires[0]!.resolve(2n);
    await settle();
    expect(t.ownership.servingEpoch(3n)).toBe(2n);
    return t;
  }
  async function renew(t: Awaited<ReturnType<typeof serving>>): Promise<UsageReports | undefined> {
    const tick = t.ownership.tick();
    const sent = t.store.ticks.at(-1)!;
    sent.answer.resolve({ held: [{ fsid: 3n, epoch: 2n }], assigned: [assigned(3n)], moverState: 'active' });
    await tick;
    await settle();
    return sent.usage;
  }

  it('measures served filesystems beside the renewals and sends each figure once, with the next renewal', async () => {
    let used = 4096;
    const calls: bigint[] = [];
    const t = await serving(async (fsid) => (calls.push(fsid), figures(used)), 1);
    expect(await renew(t)).toBeUndefined(); // nothing measured yet: this renewal starts a measurement
    expect(calls).toEqual([3n]);
    const sent = (await renew(t))!;
    expect(sent.reports).toEqual([{ fsid: 3n, epoch: 2n, usage: figures(4096), ageMs: expect.any(Number) }]);
    expect(sent.freshMs).toBeGreaterThanOrEqual(5000);
    used = 8192;
    // The figure measured after the previous renewal goes now; the new one with the next.
    expect((await renew(t))!.reports[0]!.usage.usedBytes).toBe(4096);
    expect((await renew(t))!.reports[0]!.usage.usedBytes).toBe(8192);
  });

  it('measures at most every usageEveryMs', async () => {
    let n = 0;
    const t = await serving(async () => (n++, figures(1)), 60_000);
    expect(await renew(t)).toBeUndefined();
    expect((await renew(t))!.reports).toHaveLength(1);
    expect(await renew(t)).toBeUndefined(); // each figure goes once
    expect(n).toBe(1); // the first renewal after fs 3 was served measured; the next one is a minute away
  });

  it('leaves out a filesystem whose statfs fails, and a renewal that failed with figures is retried without them', async () => {
    const t = await serving(async () => {
      throw new Error('closed');
    }, 1);
    await renew(t);
    expect(await renew(t)).toBeUndefined();

    const ok = await serving(async () => figures(1), 1);
    await renew(ok);
    const failing = ok.ownership.tick();
    const withFigures = ok.store.ticks.at(-1)!;
    expect(withFigures.usage?.reports).toHaveLength(1);
    withFigures.answer.promise.catch(() => undefined);
    (withFigures.answer as unknown as { resolve: (v: unknown) => void }).resolve(Promise.reject(new Error('check constraint')));
    await expect(failing).rejects.toThrow(/check constraint/);
    await settle();
    expect(await renew(ok)).toBeUndefined(); // the next renewal goes without figures
    expect(ok.ownership.servingEpoch(3n)).toBe(2n);
  });

  it('does not send figures measured under an epoch no longer served', async () => {
    const t = await serving(async () => figures(1), 1);
    await renew(t);
    // The lease is lost: the renewal does not return it.
    const tick = t.ownership.tick();
    t.store.ticks.at(-1)!.answer.resolve({ held: [], assigned: [], moverState: 'active' });
    await tick;
    await settle();
    const next = t.ownership.tick();
    expect(t.store.ticks.at(-1)!.usage).toBeUndefined();
    t.store.ticks.at(-1)!.answer.resolve({ held: [], assigned: [], moverState: 'active' });
    await next;
  });
});
