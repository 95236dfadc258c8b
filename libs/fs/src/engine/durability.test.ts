// Goal: the write buffer stays bounded and flushes early, a full volume gives NOSPC while reads,
// removes and truncates keep working, metadata operations share log syncs, and a crash loses
// nothing acknowledged. Method: drive the engine over the in-memory volume, observing its
// buffered-block count at every volume write, its sync counter, and crash copies taken while
// operations are in flight (checked with fsck after reopening).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FileRef, FsError, FsErrorCode, StableHow } from '../api';
import { checkFileSystem } from '../fsck/check';
import type { Engine } from './file-system';
import { makeFs, owner, reopen } from './test-helpers';

const ref = (a: { ino: bigint; generation: number }): FileRef => ({ ino: a.ino, generation: a.generation });

async function code(p: Promise<unknown>): Promise<FsErrorCode | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof FsError) return e.code;
    throw e;
  }
}

describe('write buffer', () => {
  it('applies back-pressure: buffered data never exceeds the budget and flushing starts early', async () => {
    const budgetBlocks = 16;
    const { fs, volume } = await makeFs({}, { writeBufferBytes: budgetBlocks * 4096 });
    const engine = fs as unknown as Engine;
    let maxSeen = 0;
    let flushWritesBeforeEnd = 0;
    let done = false;
    const orig = volume.writeBlocks.bind(volume);
    volume.writeBlocks = async (b, d) => {
      maxSeen = Math.max(maxSeen, engine.bufferedBlockCount);
      if (!done) flushWritesBeforeEnd++;
      return orig(b, d);
    };
    const f = await fs.create(fs.root, 'big', { how: 'unchecked', attrs: {} }, owner);
    const g = await fs.create(fs.root, 'big2', { how: 'unchecked', attrs: {} }, owner);
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const target = i % 2 ? ref(f.attr) : ref(g.attr);
      writes.push(
        fs.write(target, BigInt(i * 4096), Buffer.alloc(4096, i & 0xff), StableHow.UNSTABLE).then(() => {
          maxSeen = Math.max(maxSeen, engine.bufferedBlockCount);
        }),
      );
    }
    await Promise.all(writes);
    done = true;
    expect(maxSeen).toBeLessThanOrEqual(budgetBlocks);
    expect(flushWritesBeforeEnd).toBeGreaterThan(0);
    for (let i = 0; i < 200; i++) {
      const target = i % 2 ? ref(f.attr) : ref(g.attr);
      const d = (await fs.read(target, BigInt(i * 4096), 4096)).data;
      expect(d.equals(Buffer.alloc(4096, i & 0xff))).toBe(true);
    }
    await fs.flush();
    expect(engine.bufferedBlockCount).toBe(0);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('does not keep buffered data of a removed file', async () => {
    const { fs, volume } = await makeFs();
    const engine = fs as unknown as Engine;
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    await fs.write(ref(f.attr), 0n, Buffer.alloc(40000, 1), StableHow.UNSTABLE);
    expect(engine.bufferedBlockCount).toBe(10);
    await fs.remove(fs.root, 'f');
    expect(engine.bufferedBlockCount).toBe(0);
    await fs.flush();
    expect(volume.usedExtents()).toEqual([]);
  });
});

describe('full volume', () => {
  it('answers NOSPC for new data while reads, removes and truncates keep working', async () => {
    const { fs, volume } = await makeFs({ maxBlocks: 256 });
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const fr = ref(f.attr);
    let off = 0n;
    let last: FsErrorCode | 'ok' = 'ok';
    while (last === 'ok' && off < 2n ** 21n) {
      last = await code(fs.write(fr, off, Buffer.alloc(16384, 3), StableHow.FILE_SYNC));
      if (last === 'ok') off += 16384n;
    }
    expect(last).toBe(FsErrorCode.NOSPC);
    expect(await code(fs.write(fr, off, Buffer.alloc(16384, 3), StableHow.UNSTABLE))).toBe(FsErrorCode.NOSPC);
    expect((await fs.statfs()).availBytes).toBeLessThan(16384n);
    expect((await fs.read(fr, 0n, 4096)).data.equals(Buffer.alloc(4096, 3))).toBe(true);
    const g = await fs.create(fs.root, 'g', { how: 'unchecked', attrs: {} }, owner);
    await fs.setattr(fr, { size: off / 2n });
    await fs.remove(fs.root, 'f');
    // The space comes back: the engine checkpoints to make freed blocks reusable.
    expect(await code(fs.write(ref(g.attr), 0n, Buffer.alloc(65536, 4), StableHow.FILE_SYNC))).toBe('ok');
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });
});

describe('group commit and crashes', () => {
  it('shares log syncs among concurrent metadata operations', async () => {
    const { fs, volume } = await makeFs();
    const before = volume.syncCount;
    await Promise.all(Array.from({ length: 50 }, (_, i) => fs.mkdir(fs.root, `d${i}`, {}, owner)));
    expect(volume.syncCount - before).toBeLessThan(10);
    expect((await fs.getattr(fs.root)).nlink).toBe(52);
  });

  it('keeps every acknowledged operation after a crash at a random point; fsck is clean', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 1000 }), async (ops, seed) => {
        const { fs, volume, clock } = await makeFs();
        const acked: string[] = [];
        const committed = new Map<string, number>();
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < ops; i++) {
          const name = `n${(i * 7 + seed) % 23}`;
          const p = (async () => {
            const r = await code(fs.mkdir(fs.root, `dir-${i}`, {}, owner));
            if (r === 'ok') acked.push(`dir-${i}`);
            const c = await fs.create(fs.root, name, { how: 'unchecked', attrs: {} }, owner).catch(() => undefined);
            if (c) {
              await fs.write(ref(c.attr), 0n, Buffer.alloc(5000, i & 0xff), StableHow.UNSTABLE);
              await fs.commit(ref(c.attr), 0n, 0);
              committed.set(name, i & 0xff);
            }
          })();
          pending.push(p);
        }
        // Let a random amount of work complete, then crash.
        for (let t = 0; t < seed % 25; t++) await new Promise((r) => setImmediate(r));
        const crashed = volume.crashCopy();
        // The acknowledged set is only what had completed when the crash copy was taken.
        const ackAtCrash = [...acked];
        const commitsAtCrash = new Map(committed);
        await Promise.all(pending);
        expect(ackAtCrash.length + commitsAtCrash.size).toBeLessThanOrEqual(2 * ops);
        const v2 = crashed;
        const rep = await checkFileSystem(v2);
        expect(rep.problems).toEqual([]);
        const fs2 = await reopen(v2, clock);
        for (const d of ackAtCrash) expect((await fs2.lookup(fs2.root, d)).attr.type).toBe(2);
        for (const [name] of commitsAtCrash) {
          const l = await fs2.lookup(fs2.root, name);
          expect(l.attr.size).toBeGreaterThanOrEqual(5000n);
        }
      }),
      { numRuns: 40 },
    );
  });
});
