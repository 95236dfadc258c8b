/**
 * Goal: a fenced space writes only under a live lease: past the deadline writes wait for a
 * renewal, after a loss they fail and nothing reaches the device; the deadline is checked when
 * each write starts on its device (not when it was queued), and a write the device refused for
 * the fence waits for a renewal and is written then; idle() waits for IO already issued.
 * Method: a PoolSpace over MemoryDevices (unit-test doubles that check the WriteFence as a
 * FileDevice's IO thread does; libs/pool/src/write-fence.test.ts covers the native check) under
 * FencedSpace, with a LeaseFence driven by hand. A device wrapper delays writes so a write can be
 * queued while the lease is valid and start after it is gone.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDevice, Pool, type BlockDevice, type Space, type WriteFence } from '@ferry/pool';
import { FencedError, FencedSpace, LeaseFence } from './fenced-space';

const SLICE = 4 << 20;

/** A device whose writes wait for `gate` before they start (a thread pool that is slow to run them). */
class SlowDevice implements BlockDevice {
  gate: Promise<void> = Promise.resolve();
  constructor(readonly inner: MemoryDevice) {}
  get path(): string {
    return this.inner.path;
  }
  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }
  read(buf: Buffer, pos: number): Promise<void> {
    return this.inner.read(buf, pos);
  }
  async write(buf: Buffer, pos: number, fence?: WriteFence): Promise<void> {
    await this.gate;
    return this.inner.write(buf, pos, fence);
  }
  async writeDurable(buf: Buffer, pos: number, fence?: WriteFence): Promise<void> {
    await this.gate;
    return this.inner.writeDurable(buf, pos, fence);
  }
  sync(): Promise<void> {
    return this.inner.sync();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function setup(): Promise<{ space: Space; device: SlowDevice; pool: Pool }> {
  const device = new SlowDevice(new MemoryDevice(8 * SLICE + (1 << 20)));
  const pool = await Pool.createOnDevices([device], { sliceBytes: SLICE });
  const space = await pool.createSpace(7n, { maxBytes: 2 * SLICE });
  return { space, device, pool };
}

async function readBack(space: Space, pos: number): Promise<number> {
  const b = Buffer.alloc(1);
  await space.read(b, pos);
  return b[0]!;
}

describe('FencedSpace', () => {
  it('writes under a live lease, waits past the deadline until renewed, fails once lost', async () => {
    const { space: inner } = await setup();
    const fence = new LeaseFence(7n, 1n);
    const space = new FencedSpace(inner, fence);
    fence.renewed(performance.now(), 10_000);
    await space.write(Buffer.from([1]), 1);
    expect(await readBack(inner, 1)).toBe(1);

    fence.expire(); // the deadline passed (no renewal yet)
    let done = false;
    const waiting = space.writeDurable(Buffer.from([2]), 2).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    expect(await readBack(inner, 2)).toBe(0);
    fence.renewed(performance.now(), 10_000);
    await waiting;
    expect(await readBack(inner, 2)).toBe(2);

    fence.expire();
    const refused = space.write(Buffer.from([3]), 3);
    fence.lose();
    await expect(refused).rejects.toBeInstanceOf(FencedError);
    await expect(space.sync()).rejects.toBeInstanceOf(FencedError);
    await expect(space.grow()).rejects.toBeInstanceOf(FencedError);
    expect(await readBack(space, 3)).toBe(0); // reads are never fenced
  });

  it('checks the deadline when a queued write starts: one queued under the lease never lands after it', async () => {
    const { space: inner, device } = await setup();
    const fence = new LeaseFence(7n, 1n);
    const space = new FencedSpace(inner, fence);
    let noted = 0;
    fence.onFirstRefusal = () => noted++;
    fence.renewed(performance.now(), 10_000);
    // Queued while the lease is valid; the thread pool runs it only later (a stopped process).
    let run!: () => void;
    device.gate = new Promise((r) => (run = r));
    const queued = space.write(Buffer.from([9]), 99).then(
      () => 'written',
      (err: unknown) => err,
    );
    fence.lose(); // meanwhile the lease went to another mover
    run();
    expect(await queued).toBeInstanceOf(FencedError);
    expect(await readBack(inner, 99)).toBe(0);
    expect([fence.refusedAtDevice, noted]).toEqual([1, 1]);
  });

  it('writes a write the device refused for the fence once the lease is renewed', async () => {
    const { space: inner, device } = await setup();
    const fence = new LeaseFence(7n, 1n);
    const space = new FencedSpace(inner, fence);
    fence.renewed(performance.now(), 10_000);
    let run!: () => void;
    device.gate = new Promise((r) => (run = r));
    const queued = space.writeDurable(Buffer.from([5]), 50);
    fence.expire(); // the deadline passes while it is queued; the renewal comes late
    run();
    await new Promise((r) => setTimeout(r, 20));
    expect(await readBack(inner, 50)).toBe(0);
    fence.renewed(performance.now(), 10_000);
    await queued;
    expect(await readBack(inner, 50)).toBe(5);
  });

  it('idle() waits for the IO already issued (the hand-over releases the lease only after it)', async () => {
    const { space: inner, device } = await setup();
    const fence = new LeaseFence(7n, 1n);
    fence.renewed(performance.now(), 10_000);
    const space = new FencedSpace(inner, fence);
    await space.idle(); // nothing in flight
    let run!: () => void;
    device.gate = new Promise((r) => (run = r));
    const writes = [space.write(Buffer.from([1]), 1), space.writeDurable(Buffer.from([2]), 2)];
    let idle = false;
    const waited = space.idle().then(() => (idle = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(idle).toBe(false);
    run();
    await Promise.all(writes);
    await waited;
    expect([await readBack(inner, 1), await readBack(inner, 2)]).toEqual([1, 2]);
  });

  it('refuses a space that cannot check the fence in its devices', () => {
    const bare = { sizeBytes: 1, sliceDataBytes: 1 } as unknown as Space;
    expect(() => new FencedSpace(bare, new LeaseFence(7n, 1n))).toThrow(/check the fence/);
  });
});
