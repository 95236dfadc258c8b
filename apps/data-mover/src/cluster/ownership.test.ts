/**
 * Goal: a mover renews exactly the leases its own process acquired, and judges only those: a lease
 * acquired while a renewal was in flight is not taken for lost, a lease the renewal did not return
 * is fenced and dropped, and servingEpoch names the epoch a filesystem is served under.
 * Method: Ownership over a stand-in LeaseStore whose answers the test releases by hand, and
 * stand-in filesystems that record what was opened and dropped.
 */
import { describe, expect, it } from 'vitest';
import type { HeldLease, LeaseStore, TickResult } from '@ferry/control';
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
  ticks: Array<{ mine: HeldLease[] | undefined; answer: ReturnType<typeof deferred<TickResult>> }> = [];
  acquires: Array<ReturnType<typeof deferred<bigint | undefined>>> = [];
  tick(_moverId: string, mine?: HeldLease[]): Promise<TickResult> {
    const answer = deferred<TickResult>();
    this.ticks.push({ mine, answer });
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

function setup() {
  const store = new FakeStore();
  const log: string[] = [];
  const owned: OwnedFilesystems = {
    open: async (fsid) => void log.push(`open ${fsid}`),
    release: async (fsid) => void log.push(`release ${fsid}`),
    drop: async (fsid) => void log.push(`drop ${fsid}`),
    refreshPool: async () => undefined,
  };
  const ownership = new Ownership(store as unknown as LeaseStore, 'me', owned, silent);
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
