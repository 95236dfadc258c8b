// Goal: CrashDevice models a power cut faithfully: synced writes and resolved durable writes
// always survive, unsynced ones are kept, dropped or torn at whole sectors (and never revert a
// newer durable write), and injected EIO happens exactly where asked.
// Method: writes with known patterns, crash images taken under seeded and scripted random
// sources, checked sector by sector against what each fate allows.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MemoryDevice } from '../memory-device';
import { CrashDevice, type CrashFate, DeviceFaultError, SECTOR_BYTES } from './crash-device';
import { seededRandom } from './seeded-random';

/** A random source that replays `values` in order (then repeats the last). */
function scripted(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}

describe('CrashDevice', () => {
  test('reads see every completed write; synced writes survive any crash', async () => {
    const d = new CrashDevice(8192);
    await d.write(Buffer.alloc(1000, 1), 0);
    await d.sync();
    await d.write(Buffer.alloc(1000, 2), 4096);
    const live = Buffer.alloc(1000);
    await d.read(live, 4096);
    expect(live.every((b) => b === 2)).toBe(true);
    expect(d.unsyncedWrites).toBe(1);
    for (let seed = 0; seed < 50; seed++) {
      const img = d.crash(seededRandom(seed));
      expect(img.data.subarray(0, 1000).every((b) => b === 1)).toBe(true);
    }
    expect(d.durableImage().data.subarray(4096, 5096).every((b) => b === 0)).toBe(true);
    expect(d.liveImage().data.subarray(4096, 5096).every((b) => b === 2)).toBe(true);
  });

  test('kept, dropped and torn are each produced, and torn keeps whole sectors only', async () => {
    const d = new CrashDevice(8192);
    await d.write(Buffer.alloc(3000, 7), 100); // spans sectors 0..6, cuts at 512, 1024, ..., 3072
    const fates: CrashFate[] = [];
    const kept = d.crash(scripted(0.1), (_, f) => fates.push(f));
    expect(kept.data.subarray(100, 3100).every((b) => b === 7)).toBe(true);
    const dropped = d.crash(scripted(0.5), (_, f) => fates.push(f));
    expect(dropped.data.every((b) => b === 0)).toBe(true);
    // Torn, second draw 0.4 of 6 cuts -> cut index 2 -> prefix up to byte 1536.
    const torn = d.crash(scripted(0.9, 0.4), (_, f) => fates.push(f));
    expect(fates).toEqual(['kept', 'dropped', 'torn']);
    expect(torn.data.subarray(100, 1536).every((b) => b === 7)).toBe(true);
    expect(torn.data.subarray(1536).every((b) => b === 0)).toBe(true);
  });

  test('a write inside one sector is never torn', async () => {
    const d = new CrashDevice(4096);
    await d.write(Buffer.alloc(512, 3), 512);
    const fates: CrashFate[] = [];
    const img = d.crash(scripted(0.99), (_, f) => fates.push(f));
    expect(fates).toEqual(['dropped']);
    expect(img.data.every((b) => b === 0)).toBe(true);
  });

  test('property: every crash image is, sector by sector, a state some prefix of each write explains', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ pos: fc.nat({ max: 8000 }), len: fc.integer({ min: 1, max: 3000 }), sync: fc.boolean() }), { minLength: 1, maxLength: 12 }),
        fc.nat(),
        async (writes, seed) => {
          const size = 12 * 1024;
          const d = new CrashDevice(size);
          const durable = Buffer.alloc(size);
          const unsynced: Array<{ pos: number; data: Buffer }> = [];
          for (let i = 0; i < writes.length; i++) {
            const w = writes[i]!;
            const data = Buffer.alloc(w.len, i + 1);
            await d.write(data, w.pos);
            unsynced.push({ pos: w.pos, data });
            if (w.sync) {
              await d.sync();
              for (const u of unsynced.splice(0)) u.data.copy(durable, u.pos);
            }
          }
          const fates: Array<[CrashFate, number]> = [];
          const img = d.crash(seededRandom(seed), (_, f, kept) => fates.push([f, kept]));
          expect(fates).toHaveLength(unsynced.length);
          // Rebuild the image from the reported fates: kept = all, dropped = none, torn = a
          // non-empty proper prefix ending on a sector boundary.
          const expected = Buffer.from(durable);
          unsynced.forEach((u, i) => {
            const [fate, kept] = fates[i]!;
            if (fate === 'kept') expect(kept).toBe(u.data.length);
            if (fate === 'dropped') expect(kept).toBe(0);
            if (fate === 'torn') {
              expect(kept).toBeGreaterThan(0);
              expect(kept).toBeLessThan(u.data.length);
              expect((u.pos + kept) % SECTOR_BYTES).toBe(0);
            }
            u.data.copy(expected, u.pos, 0, kept);
          });
          expect(img.data.equals(expected)).toBe(true);
        },
      ),
    );
  });

  test('sync covers only writes completed before it was called', async () => {
    const d = new CrashDevice(4096);
    await d.write(Buffer.alloc(10, 1), 0);
    const syncing = d.sync();
    const late = d.write(Buffer.alloc(10, 2), 512);
    await Promise.all([syncing, late]);
    expect(d.unsyncedWrites).toBe(1);
    const img = d.crash(scripted(0.5)); // drop everything unsynced
    expect(img.data[0]).toBe(1);
    expect(img.data[512]).toBe(0);
  });

  test('injected EIO at the Nth write and sync, once or sticky', async () => {
    const d = new CrashDevice(new MemoryDevice(4096, 'disk'), { failAtWrite: 2, failAtSync: 1 });
    await d.write(Buffer.alloc(1, 1), 0);
    const err = await d.write(Buffer.alloc(1, 2), 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceFaultError);
    expect(err).toMatchObject({ code: 'EIO', message: expect.stringContaining('disk: injected EIO on write #2') });
    const b = Buffer.alloc(2);
    await d.read(b, 0);
    expect([...b]).toEqual([1, 0]); // the failed write was not applied
    await expect(d.sync()).rejects.toMatchObject({ code: 'EIO' });
    expect(d.unsyncedWrites).toBe(1); // nothing became durable
    await d.write(Buffer.alloc(1, 3), 2); // not sticky: the device works again
    await d.sync();
    expect(d.unsyncedWrites).toBe(0);

    const dead = new CrashDevice(4096, { failAtWrite: 1, sticky: true });
    await expect(dead.write(Buffer.alloc(1), 0)).rejects.toBeInstanceOf(DeviceFaultError);
    await expect(dead.write(Buffer.alloc(1), 0)).rejects.toBeInstanceOf(DeviceFaultError);
    await expect(dead.sync()).rejects.toBeInstanceOf(DeviceFaultError);
  });

  test('a durable write survives any crash once it resolves, and makes no other write durable', async () => {
    const d = new CrashDevice(8192);
    await d.write(Buffer.alloc(512, 1), 0);
    await d.writeDurable(Buffer.alloc(512, 2), 4096);
    expect(d.unsyncedWrites).toBe(1); // the plain write only
    for (let seed = 0; seed < 30; seed++) {
      const img = d.crash(seededRandom(seed));
      expect(img.data.subarray(4096, 4608).every((b) => b === 2)).toBe(true);
    }
    const lost = d.crash(scripted(0.5)); // drop everything unsynced
    expect(lost.data[0]).toBe(0);
    expect(lost.data[4096]).toBe(2);
    expect(d.durableImage().data[4096]).toBe(2);
    expect(d.durableImage().data[0]).toBe(0);
  });

  test('a durable write in flight may be lost; once it resolves it is not', async () => {
    const d = new CrashDevice(4096);
    const writing = d.writeDurable(Buffer.alloc(512, 5), 0);
    const inFlight = d.crash(scripted(0.5)); // taken before it resolved: dropped
    await writing;
    expect(inFlight.data[0]).toBe(0);
    expect(d.crash(scripted(0.5)).data[0]).toBe(5);
  });

  test('an older unsynced write never comes back over a newer durable one, even when synced later', async () => {
    const d = new CrashDevice(4096);
    await d.write(Buffer.alloc(1024, 1), 0); // volatile
    await d.writeDurable(Buffer.alloc(512, 2), 512); // overlaps its second sector
    for (const r of [0.1, 0.5, 0.9]) {
      const img = d.crash(scripted(r, 0.99));
      expect(img.data[512], `fate ${r}`).toBe(2);
      expect([0, 1]).toContain(img.data[0]);
    }
    // A sync that covered the older write only (called before the durable write completed).
    const e = new CrashDevice(4096);
    await e.write(Buffer.alloc(1024, 1), 0);
    const syncing = e.sync();
    const durable = e.writeDurable(Buffer.alloc(512, 2), 512);
    await Promise.all([syncing, durable]);
    const img = e.durableImage();
    expect(img.data[0]).toBe(1);
    expect(img.data[512]).toBe(2);
    // A later volatile write over the durable one may or may not survive, never half a sector.
    await e.write(Buffer.alloc(512, 3), 512);
    expect(e.crash(scripted(0.5)).data[512]).toBe(2);
    expect(e.crash(scripted(0.1)).data[512]).toBe(3);
  });

  test('a durable write counts as a write for injected EIO', async () => {
    const d = new CrashDevice(4096, { failAtWrite: 2 });
    await d.writeDurable(Buffer.alloc(1, 1), 0);
    await expect(d.writeDurable(Buffer.alloc(1, 2), 1)).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('durable write #2') });
    expect(d.crash(scripted(0.5)).data.subarray(0, 2)).toEqual(Buffer.from([1, 0]));
  });

  test('starts from a MemoryDevice image, which counts as durable', async () => {
    const base = new MemoryDevice(4096, 'base');
    base.data.fill(9, 0, 100);
    const d = new CrashDevice(base);
    expect(d.path).toBe('base');
    expect(d.crash(seededRandom(1)).data.subarray(0, 100).every((b) => b === 9)).toBe(true);
    base.data.fill(0);
    const b = Buffer.alloc(1);
    await d.read(b, 0);
    expect(b[0]).toBe(9); // a copy, not a view
  });
});
