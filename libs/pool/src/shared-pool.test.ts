// Goal: several processes can share one pool's devices (the data movers of a cluster): with a
// coordinator, no slot is ever given to two filesystems, a filesystem created elsewhere is seen
// (create refuses it, refresh finds it), growth made by a former owner is seen by the next one,
// and a destroy elsewhere frees its slots for everyone.
// Method: two Pool objects opened on the same MemoryDevices (two "processes"), a mutex as the
// cross-process lock, random interleavings of create/grow/destroy (fast-check), then a fresh
// open of the devices must agree with both views.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PoolFullError } from './block-device';
import { PoolError, PoolErrorCode } from './errors';
import { MemoryDevice } from './memory-device';
import { Pool, type PoolCoordinator } from './pool';

const SLICE = 16 * 1024;
const FIRST = 8192;
const geometry = { sliceBytes: SLICE, firstSliceOffsetBytes: FIRST };

/** One lock for every Pool object in the test: what an advisory lock is across processes. */
function lock(): PoolCoordinator & { held: number } {
  let tail: Promise<unknown> = Promise.resolve();
  const c = {
    held: 0,
    exclusive<T>(fn: () => Promise<T>): Promise<T> {
      const run = tail.then(async () => {
        c.held++;
        try {
          return await fn();
        } finally {
          c.held--;
        }
      });
      tail = run.catch(() => undefined);
      return run;
    },
  };
  return c;
}

async function twoProcesses(slices: number): Promise<{ devs: MemoryDevice[]; a: Pool; b: Pool; coordinator: PoolCoordinator }> {
  const devs = [new MemoryDevice(FIRST + slices * SLICE, 'd0'), new MemoryDevice(FIRST + slices * SLICE, 'd1')];
  const created = await Pool.createOnDevices(devs, geometry);
  await created.close();
  const coordinator = lock();
  const a = await Pool.openDevices(devs, { coordinator });
  const b = await Pool.openDevices(devs, { coordinator });
  return { devs, a, b, coordinator };
}

function slicesOf(p: Pool): Map<bigint, number> {
  return new Map(p.listFilesystems().map((f) => [f.fsId, f.slices]));
}

describe('a pool shared by several processes', () => {
  test('create elsewhere is refused here; refresh finds it and a former owner\'s growth', async () => {
    const { devs, a, b } = await twoProcesses(8);
    const sa = await a.createSpace(5n, { maxBytes: 1 << 30 });
    await expect(b.createSpace(5n, { maxBytes: 1 << 30 })).rejects.toMatchObject({ code: PoolErrorCode.FS_EXISTS });
    await sa.grow();
    await sa.grow();
    const pattern = Buffer.alloc(4096, 0xab);
    await sa.write(pattern, 2 * (SLICE - 4096) + 100);
    await a.close();
    // b takes over: after refresh its Space addresses the three slices a wrote.
    await b.refresh();
    expect(slicesOf(b).get(5n)).toBe(3);
    const sb = await b.openSpace(5n, { maxBytes: 1 << 30 });
    const back = Buffer.alloc(4096);
    await sb.read(back, 2 * (SLICE - 4096) + 100);
    expect(back.equals(pattern)).toBe(true);
    const fresh = await Pool.openDevices(devs);
    expect(slicesOf(fresh)).toEqual(slicesOf(b));
  });

  test('a destroy elsewhere frees the slots for everyone', async () => {
    const { a, b } = await twoProcesses(2); // 4 slots
    await a.createSpace(1n, { maxBytes: 1 << 30 });
    const s2 = await b.createSpace(2n, { maxBytes: 1 << 30 });
    await s2.grow();
    // One slot left; a sees that only after the lock's rescan.
    const s1 = await a.openSpace(1n, { maxBytes: 1 << 30 });
    await s1.grow();
    await expect(s1.grow()).rejects.toBeInstanceOf(PoolFullError);
    await b.destroySpace(2n);
    await s1.grow();
    await a.refresh();
    expect(slicesOf(a)).toEqual(new Map([[1n, 3]]));
    await expect(a.openSpace(2n, { maxBytes: 1 << 30 })).rejects.toBeInstanceOf(PoolError);
  });

  test('random interleavings never give one slot to two filesystems (fast-check)', async () => {
    type Op = { who: 0 | 1; kind: 'create' | 'grow' | 'destroy'; fs: number };
    const op = fc.record({ who: fc.constantFrom<0 | 1>(0, 1), kind: fc.constantFrom<'create' | 'grow' | 'destroy'>('create', 'grow', 'grow', 'destroy'), fs: fc.integer({ min: 1, max: 4 }) }) as fc.Arbitrary<Op>;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const { devs, a, b } = await twoProcesses(4);
        const pools = [a, b];
        // Concurrent batches of up to 4 operations, as two busy processes would issue them.
        for (let i = 0; i < ops.length; i += 4) {
          await Promise.all(
            ops.slice(i, i + 4).map(async (o) => {
              const p = pools[o.who]!;
              const id = BigInt(o.fs);
              try {
                if (o.kind === 'create') await p.createSpace(id, { maxBytes: 1 << 30 });
                else if (o.kind === 'grow') await (await p.openSpace(id, { maxBytes: 1 << 30 })).grow();
                else await p.destroySpace(id);
              } catch (err) {
                if (!(err instanceof PoolError) && !(err instanceof PoolFullError)) throw err;
              }
            }),
          );
        }
        // The devices are the truth: they open cleanly (no slot claimed twice, no gap) and
        // both processes agree with them after a refresh.
        const truth = await Pool.openDevices(devs);
        const t = truth.stats();
        const used = truth.listFilesystems().reduce((n, f) => n + f.slices, 0);
        expect(t.totalSlices - t.freeSlices).toBe(used);
        for (const p of pools) {
          await p.refresh();
          expect(slicesOf(p)).toEqual(slicesOf(truth));
          expect(p.stats().freeSlices).toBe(t.freeSlices);
        }
      }),
      { numRuns: 60 },
    );
  });
});
