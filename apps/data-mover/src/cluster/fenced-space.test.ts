/**
 * Goal: a fenced space writes only under a live lease, and a write never waits between its check
 * and its issue: past the deadline writes wait for a renewal, after a loss they fail and nothing
 * reaches the device, and the IO gate never admits more requests than its limit (a write that
 * waited for the gate is checked again when admitted).
 * Method: a recording in-memory Space (a unit-test double) under FencedSpace with a LeaseFence
 * driven by hand.
 */
import { describe, expect, it } from 'vitest';
import type { Space } from '@ferry/pool';
import { FencedError, FencedSpace, IoGate, LeaseFence } from './fenced-space';

class RecordingSpace implements Space {
  readonly sizeBytes = 1 << 20;
  readonly sliceDataBytes = 1 << 20;
  writes: number[] = [];
  active = 0;
  maxActive = 0;
  private async io(pos: number | undefined): Promise<void> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    await new Promise((r) => setTimeout(r, 2));
    if (pos !== undefined) this.writes.push(pos);
    this.active--;
  }
  read(): Promise<void> {
    return this.io(undefined);
  }
  write(_b: Buffer, pos: number): Promise<void> {
    return this.io(pos);
  }
  writeDurable(_b: Buffer, pos: number): Promise<void> {
    return this.io(pos);
  }
  sync(): Promise<void> {
    return this.io(undefined);
  }
  grow(): Promise<void> {
    return this.io(undefined);
  }
}

describe('FencedSpace', () => {
  it('writes under a live lease, waits past the deadline until renewed, fails once lost', async () => {
    const inner = new RecordingSpace();
    const fence = new LeaseFence(7n, 1n);
    const space = new FencedSpace(inner, fence, new IoGate(4));
    fence.renewed(performance.now(), 10_000);
    await space.write(Buffer.alloc(1), 1);
    expect(inner.writes).toEqual([1]);

    fence.deadline = performance.now() - 1; // the lease ran out (no renewal yet)
    let done = false;
    const waiting = space.writeDurable(Buffer.alloc(1), 2).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    expect(inner.writes).toEqual([1]);
    fence.renewed(performance.now(), 10_000);
    await waiting;
    expect(inner.writes).toEqual([1, 2]);

    fence.deadline = performance.now() - 1;
    const refused = space.write(Buffer.alloc(1), 3);
    fence.lose();
    await expect(refused).rejects.toBeInstanceOf(FencedError);
    await expect(space.sync()).rejects.toBeInstanceOf(FencedError);
    await expect(space.grow()).rejects.toBeInstanceOf(FencedError);
    await space.read(Buffer.alloc(1), 0); // reads are never fenced
    expect(inner.writes).toEqual([1, 2]);
  });

  it('admits at most the gate limit, and checks a queued write again when admitted', async () => {
    const inner = new RecordingSpace();
    const fence = new LeaseFence(7n, 1n);
    fence.renewed(performance.now(), 10_000);
    const gate = new IoGate(3);
    const space = new FencedSpace(inner, fence, gate);
    const all = Array.from({ length: 20 }, (_, i) => (i % 2 ? space.write(Buffer.alloc(1), i) : space.read(Buffer.alloc(1), i)));
    await Promise.all(all);
    expect(inner.maxActive).toBe(3);
    expect(gate.inUse).toBe(0);

    // Fill the gate, queue a write behind it, then lose the lease: the queued write never issues.
    const blockers = [space.read(Buffer.alloc(1), 0), space.read(Buffer.alloc(1), 0), space.read(Buffer.alloc(1), 0)];
    const queued = space.write(Buffer.alloc(1), 99).then(
      () => 'issued',
      (err: unknown) => err,
    );
    fence.deadline = performance.now() - 1;
    fence.lose();
    await Promise.all(blockers);
    expect(await queued).toBeInstanceOf(FencedError);
    expect(inner.writes).not.toContain(99);
    expect(gate.inUse).toBe(0);
  });

  it('idle() waits for the IO already issued (the hand-over releases the lease only after it)', async () => {
    const inner = new RecordingSpace();
    const fence = new LeaseFence(7n, 1n);
    fence.renewed(performance.now(), 10_000);
    const space = new FencedSpace(inner, fence, new IoGate(8));
    await space.idle(); // nothing in flight
    const writes = [space.write(Buffer.alloc(1), 1), space.writeDurable(Buffer.alloc(1), 2)];
    fence.lose();
    let idle = false;
    const waited = space.idle().then(() => (idle = true));
    expect(idle).toBe(false);
    await Promise.all(writes);
    await waited;
    expect(inner.writes.sort()).toEqual([1, 2]);
    expect(inner.active).toBe(0);
  });
});
