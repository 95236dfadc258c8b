// Goal: memory stays bounded by cachePages however much is inserted, group commit shares one
// durable log write among many transactions, a metadata-only commit needs no sync, and a small
// data write with its transaction costs one log write plus one sync (format 2 data checksums).
// Method: insert thousands of random keys through a tiny cache while asserting the resident
// page counts after every apply, and count syncs and durable writes on a counting space.
import { describe, expect, it } from 'vitest';
import { formatVolume, openVolume } from './meta-volume';
import { MemorySpace } from './testing/memory-space';
import { seededRandom } from './testing/crash-space';

const SLICE = 8 * 1024 * 1024;

describe('bounded memory', () => {
  it('clean and dirty pages never exceed the cache bound', async () => {
    const space = new MemorySpace(SLICE, 2, 8);
    await formatVolume(space, { volumeId: 1n, maxBytes: 8 * SLICE });
    const vol = await openVolume(space, { cachePages: 32, checkpointIntervalMs: 0 });
    const rnd = seededRandom(5);
    let maxDirty = 0;
    let maxCached = 0;
    for (let i = 0; i < 6000; i++) {
      const k = Buffer.from(`k${Math.floor(rnd() * 1e9)}`);
      await vol.apply({ puts: [[k, Buffer.alloc(200, i & 255)]], dels: [] });
      maxDirty = Math.max(maxDirty, vol.dirtyPages);
      maxCached = Math.max(maxCached, vol.cachedPages);
    }
    // 6000 entries of ~210 bytes need ~100 leaves: far more than the cache holds.
    expect(maxDirty).toBeLessThanOrEqual(32 + 3);
    expect(maxCached).toBeLessThanOrEqual(32);
    expect(vol.stats().checkpointLsn).toBeGreaterThan(0n);
    let n = 0;
    await vol.scan(Buffer.alloc(0), undefined, () => (n++, true));
    expect(n).toBe(6000);
    await vol.close();
  });
});

describe('group commit', () => {
  it('a burst of transactions made durable together costs a handful of log writes', async () => {
    const space = new MemorySpace(SLICE, 1, 1);
    await formatVolume(space, { volumeId: 1n, maxBytes: SLICE });
    const vol = await openVolume(space, { cachePages: 256, checkpointIntervalMs: 0 });
    const before = { syncs: space.syncs, durables: space.durableWrites };
    const lsns = await Promise.all(Array.from({ length: 500 }, (_, i) => vol.apply({ puts: [[Buffer.from(`k${i}`), Buffer.from('v')]], dels: [] })));
    await Promise.all(lsns.map((l) => vol.durable(l)));
    expect(space.durableWrites - before.durables).toBeLessThanOrEqual(2);
    expect(space.syncs - before.syncs).toBe(0);
    // Each durable() on its own, awaited in turn: one durable write each (nothing to share),
    // and no sync: the log write is durable by itself.
    const b2 = { syncs: space.syncs, durables: space.durableWrites, writes: space.writes };
    for (let i = 0; i < 5; i++) await vol.durable(await vol.apply({ puts: [[Buffer.from(`s${i}`), Buffer.from('v')]], dels: [] }));
    expect(space.durableWrites - b2.durables).toBe(5);
    expect(space.writes - b2.writes).toBe(5);
    expect(space.syncs - b2.syncs).toBe(0);
    await vol.close();
  });

  it('a small data write, its transaction and durable cost exactly one sync (format 2)', async () => {
    const space = new MemorySpace(SLICE, 1, 1);
    await formatVolume(space, { volumeId: 1n, maxBytes: SLICE });
    const vol = await openVolume(space, { cachePages: 256, checkpointIntervalMs: 0 });
    for (let i = 0; i < 5; i++) {
      const ext = await vol.allocate(2);
      for (const e of ext) await vol.writeBlocks(e.block, Buffer.alloc(e.count * 4096, 7));
      const s0 = space.syncs;
      const w0 = space.writes;
      const d0 = space.durableWrites;
      await vol.durable(await vol.apply({ puts: [[Buffer.from(`f${i}`), Buffer.from('x')]], dels: [], allocated: ext }));
      // The log record carries the blocks' checksums: one durable log write and, alongside it,
      // one sync for the data.
      expect(space.syncs - s0).toBe(1);
      expect(space.writes - w0).toBe(1);
      expect(space.durableWrites - d0).toBe(1);
      const back = Buffer.alloc(ext[0]!.count * 4096);
      await vol.readBlocks(ext[0]!.block, back);
      expect(back.every((b) => b === 7)).toBe(true);
    }
    expect(vol.checksumBatches).toBe(5);
    // A metadata-only transaction after a data write that no transaction names: the log write
    // alone (the data becomes the business of the transaction that names it).
    const [other] = await vol.allocate(1);
    await vol.writeBlocks(other!.block, Buffer.alloc(4096, 1));
    const s1 = space.syncs;
    const d1 = space.durableWrites;
    await vol.durable(await vol.apply({ puts: [[Buffer.from('m'), Buffer.from('y')]], dels: [] }));
    expect(space.syncs - s1).toBe(0);
    expect(space.durableWrites - d1).toBe(1);
    vol.unreserve([other!]);
    await expect(vol.writeBlocks(2, Buffer.alloc(4096))).rejects.toThrow('write to block 2, which is not allocated data');
    await vol.close();
  });

  it('data not tracked by checksum (bulk writes, or dataVerifyBytes 0) is synced before the log record naming it', async () => {
    for (const mode of ['off', 'bulk'] as const) {
      const space = new MemorySpace(SLICE, 1, 1);
      await formatVolume(space, { volumeId: 1n, maxBytes: SLICE });
      const vol = await openVolume(space, { cachePages: 256, checkpointIntervalMs: 0, dataVerifyBytes: mode === 'off' ? 0 : undefined });
      const blocks = mode === 'off' ? 2 : 300; // 300 blocks: larger than one tracked write
      const ext = await vol.allocate(blocks);
      for (const e of ext) await vol.writeBlocks(e.block, Buffer.alloc(e.count * 4096, 7));
      const s0 = space.syncs;
      const w0 = space.writes;
      const d0 = space.durableWrites;
      await vol.durable(await vol.apply({ puts: [[Buffer.from('f'), Buffer.from('x')]], dels: [], allocated: ext }));
      // One sync for the data, then the durable log write.
      expect(space.syncs - s0, mode).toBe(1);
      expect(space.writes - w0, mode).toBe(1);
      expect(space.durableWrites - d0, mode).toBe(1);
      expect(vol.checksumBatches, mode).toBe(0);
      await vol.close();
    }
  });
});
