// Goal: the pool's lifecycle works and is durable: create, open, add a device online, create /
// grow / destroy filesystems, reuse freed slices, and find everything again from the devices.
// Method: pools on MemoryDevices (and real files for the path API), reopened from the same bytes
// after each step; assertions on listFilesystems, stats and data read back through Spaces.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { PoolFullError } from './block-device';
import { PoolError, PoolErrorCode } from './errors';
import { importPool } from './import';
import { MemoryDevice } from './memory-device';
import { Pool } from './pool';
import type { PoolSpace } from './space';

const SLICE = 16 * 1024;
const FIRST = 8192;
const DATA = SLICE - 4096;
const geometry = { sliceBytes: SLICE, firstSliceOffsetBytes: FIRST };

function mem(slices: number, name: string): MemoryDevice {
  return new MemoryDevice(FIRST + slices * SLICE, name);
}

/** A MemoryDevice whose close() is a no-op, so the bytes can be reopened by another Pool. */
async function reopen(devices: MemoryDevice[]): Promise<Pool> {
  return Pool.openDevices(devices);
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('memory pool', () => {
  test('create formats every device and reopens with the same geometry', async () => {
    const devs = [mem(4, 'a'), mem(3, 'b')];
    const pool = await Pool.createOnDevices(devs, geometry);
    expect(pool.stats()).toMatchObject({ sliceBytes: SLICE, sliceDataBytes: DATA, totalSlices: 7, freeSlices: 7, filesystems: 0 });
    const again = await reopen(devs);
    expect(again.poolId.equals(pool.poolId)).toBe(true);
    expect(again.stats()).toEqual(pool.stats());
    expect(again.warnings).toEqual([]);
  });

  test('a space grows slice by slice and its data survives reopen', async () => {
    const devs = [mem(4, 'a'), mem(4, 'b')];
    const pool = await Pool.createOnDevices(devs, geometry);
    const space = (await pool.createSpace(42n, { maxBytes: 10 * DATA })) as PoolSpace;
    expect(space.sizeBytes).toBe(DATA);
    await space.grow();
    await space.grow();
    expect(space.sizeBytes).toBe(3 * DATA);
    const data = pattern(3 * DATA, 7);
    await space.write(data, 0);
    await space.sync();
    expect(pool.listFilesystems()).toEqual([{ fsId: 42n, slices: 3, bytes: 3 * DATA, complete: true }]);
    // Allocation spreads over devices (most free slices first).
    expect(pool.stats().devices.map((d) => d.freeSlices)).toEqual([2, 3]);

    const again = await reopen(devs);
    expect(again.listFilesystems()).toEqual([{ fsId: 42n, slices: 3, bytes: 3 * DATA, complete: true }]);
    const s2 = await again.openSpace(42n, { maxBytes: 10 * DATA });
    const back = Buffer.alloc(3 * DATA);
    await s2.read(back, 0);
    expect(back.equals(data)).toBe(true);
  });

  test('grow respects maxBytes and the pool size', async () => {
    const pool = await Pool.createOnDevices([mem(3, 'a')], geometry);
    const small = await pool.createSpace(1n, { maxBytes: DATA + 1 });
    await small.grow(); // still below maxBytes before this grow
    await expect(small.grow()).rejects.toBeInstanceOf(PoolFullError);
    const other = await pool.createSpace(2n, { maxBytes: 100 * DATA });
    await expect(other.grow()).rejects.toBeInstanceOf(PoolFullError);
    await expect(pool.createSpace(3n, { maxBytes: DATA })).rejects.toBeInstanceOf(PoolFullError);
    expect(pool.listFilesystems().map((f) => f.fsId)).toEqual([1n, 2n]);
  });

  test('destroy frees slices durably and they are reused', async () => {
    const devs = [mem(3, 'a')];
    const pool = await Pool.createOnDevices(devs, geometry);
    const a = await pool.createSpace(1n, { maxBytes: 100 * DATA });
    await a.grow();
    await pool.createSpace(2n, { maxBytes: DATA });
    expect(pool.stats().freeSlices).toBe(0);
    await pool.destroySpace(1n);
    expect(pool.stats().freeSlices).toBe(2);
    await expect(a.read(Buffer.alloc(1), 0)).rejects.toMatchObject({ code: PoolErrorCode.FS_DESTROYED });
    await expect(pool.openSpace(1n, { maxBytes: DATA })).rejects.toMatchObject({ code: PoolErrorCode.FS_NOT_FOUND });

    const again = await reopen(devs);
    expect(again.listFilesystems().map((f) => f.fsId)).toEqual([2n]);
    expect(again.stats().freeSlices).toBe(2);
    const c = await again.createSpace(3n, { maxBytes: 100 * DATA });
    await c.grow();
    expect(again.stats().freeSlices).toBe(0);
    expect((await reopen(devs)).listFilesystems()).toEqual([
      { fsId: 2n, slices: 1, bytes: DATA, complete: true },
      { fsId: 3n, slices: 2, bytes: 2 * DATA, complete: true },
    ]);
  });

  test('add a device online: new slices are usable at once and found on reopen', async () => {
    const a = mem(1, 'a');
    const pool = await Pool.createOnDevices([a], geometry);
    const s = await pool.createSpace(5n, { maxBytes: 100 * DATA });
    await expect(s.grow()).rejects.toBeInstanceOf(PoolFullError);
    const b = mem(2, 'b');
    await pool.addBlockDevice(b);
    await s.grow();
    await s.grow();
    const data = pattern(3 * DATA, 3);
    await s.write(data, 0);
    await s.sync();
    // Reopen with devices in another order: indexes come from labels.
    const again = await Pool.openDevices([b, a]);
    expect(again.stats().devices.map((d) => [d.path, d.deviceIndex])).toEqual([
      ['a', 0],
      ['b', 1],
    ]);
    const back = Buffer.alloc(3 * DATA);
    await (await again.openSpace(5n, { maxBytes: 100 * DATA })).read(back, 0);
    expect(back.equals(data)).toBe(true);
  });

  test('refuses to create over a labelled or non-empty device unless forced', async () => {
    const a = mem(2, 'a');
    await Pool.createOnDevices([a], geometry);
    const before = Buffer.from(a.data);
    await expect(Pool.createOnDevices([a], geometry)).rejects.toMatchObject({ code: PoolErrorCode.DEVICE_NOT_EMPTY });
    const dirty = mem(2, 'dirty');
    dirty.data[5000] = 1;
    const clean = mem(2, 'clean');
    await expect(Pool.createOnDevices([clean, dirty], geometry)).rejects.toThrow(/dirty: holds data/);
    expect(a.data.equals(before)).toBe(true);
    expect(clean.data.equals(Buffer.alloc(clean.sizeBytes))).toBe(true); // nothing written before the refusal
    const forced = await Pool.createOnDevices([a, dirty], { ...geometry, force: true });
    const again = await Pool.openDevices([a, dirty]);
    expect(again.poolId.equals(forced.poolId)).toBe(true);
  });

  test('addDevice refuses a device of its own pool even with force', async () => {
    const a = mem(2, 'a');
    const pool = await Pool.createOnDevices([a], geometry);
    await expect(pool.addBlockDevice(a, { force: true })).rejects.toThrow(/already belongs to this pool/);
  });

  test('filesystem ids and sizes are validated', async () => {
    const pool = await Pool.createOnDevices([mem(2, 'a')], geometry);
    await expect(pool.createSpace(0n, { maxBytes: 1 })).rejects.toMatchObject({ code: PoolErrorCode.INVALID_ARGUMENT });
    await expect(pool.createSpace(1n << 64n, { maxBytes: 1 })).rejects.toMatchObject({ code: PoolErrorCode.INVALID_ARGUMENT });
    await expect(pool.createSpace(1n, { maxBytes: 0 })).rejects.toMatchObject({ code: PoolErrorCode.INVALID_ARGUMENT });
    const max = await pool.createSpace((1n << 64n) - 1n, { maxBytes: 1 });
    expect(max.sizeBytes).toBe(DATA);
    await expect(pool.createSpace((1n << 64n) - 1n, { maxBytes: 1 })).rejects.toMatchObject({ code: PoolErrorCode.FS_EXISTS });
  });

  test('space I/O outside its size is an error, not a silent write', async () => {
    const pool = await Pool.createOnDevices([mem(2, 'a')], geometry);
    const s = await pool.createSpace(1n, { maxBytes: 100 * DATA });
    await expect(s.write(Buffer.alloc(2), DATA - 1)).rejects.toThrow(RangeError);
    await expect(s.read(Buffer.alloc(1), -1)).rejects.toThrow(RangeError);
    await expect(s.read(Buffer.alloc(1), 0.5)).rejects.toThrow(RangeError);
  });

  test('read-only pools refuse every write', async () => {
    const devs = [mem(2, 'a')];
    const pool = await Pool.createOnDevices(devs, geometry);
    await pool.createSpace(1n, { maxBytes: 100 * DATA });
    const ro = await Pool.openDevices(devs, { readOnly: true });
    const s = await ro.openSpace(1n, { maxBytes: 100 * DATA });
    await expect(s.write(Buffer.alloc(1), 0)).rejects.toMatchObject({ code: PoolErrorCode.READ_ONLY });
    await expect(s.grow()).rejects.toMatchObject({ code: PoolErrorCode.READ_ONLY });
    await expect(ro.createSpace(2n, { maxBytes: 1 })).rejects.toMatchObject({ code: PoolErrorCode.READ_ONLY });
    await expect(ro.destroySpace(1n)).rejects.toMatchObject({ code: PoolErrorCode.READ_ONLY });
  });

  test('a closed pool refuses work', async () => {
    const pool = await Pool.createOnDevices([mem(2, 'a')], geometry);
    const s = await pool.createSpace(1n, { maxBytes: 100 * DATA });
    await pool.close();
    await expect(s.read(Buffer.alloc(1), 0)).rejects.toBeInstanceOf(PoolError);
    await expect(pool.createSpace(2n, { maxBytes: 1 })).rejects.toMatchObject({ code: PoolErrorCode.CLOSED });
  });

  test('an incomplete filesystem (device missing) is listed, refused by openSpace, and destroyable', async () => {
    const a = mem(3, 'a');
    const b = mem(3, 'b');
    const pool = await Pool.createOnDevices([a, b], geometry);
    const s = await pool.createSpace(1n, { maxBytes: 100 * DATA });
    await s.grow(); // on b
    await s.grow(); // on a
    const alone = await Pool.openDevices([a]);
    expect(alone.listFilesystems()).toEqual([{ fsId: 1n, slices: 2, bytes: 2 * DATA, complete: false }]);
    await expect(alone.openSpace(1n, { maxBytes: 1 })).rejects.toMatchObject({ code: PoolErrorCode.MISSING_SLICE });
    await alone.destroySpace(1n);
    expect((await Pool.openDevices([a])).stats().freeSlices).toBe(3);
  });

  test('a checksummed header with a huge slice index does not make open allocate a huge table', async () => {
    const { encodeSliceHeader } = await import('./slice-header');
    const a = mem(2, 'a');
    const pool = await Pool.createOnDevices([a], geometry);
    const label = pool.stats().devices[0]!;
    encodeSliceHeader({
      state: 2,
      poolId: pool.poolId,
      deviceId: Buffer.from(label.deviceId, 'hex'),
      deviceIndex: 0,
      slot: 1,
      fsId: 77n,
      sliceIndex: 0xffffffff,
    }).copy(a.data, FIRST + SLICE);
    const again = await Pool.openDevices([a]);
    expect(again.listFilesystems()).toEqual([{ fsId: 77n, slices: 1, bytes: DATA, complete: false }]);
  });

  test('open scans every slot of a device with more slots than one scan batch', async () => {
    const a = new MemoryDevice(FIRST + 600 * 8192, 'big');
    const pool = await Pool.createOnDevices([a], { sliceBytes: 8192, firstSliceOffsetBytes: FIRST });
    const s = await pool.createSpace(1n, { maxBytes: 1 << 30 });
    for (let i = 0; i < 599; i++) await s.grow();
    const again = await Pool.openDevices([a]);
    expect(again.stats().freeSlices).toBe(0);
    expect(again.listFilesystems()).toEqual([{ fsId: 1n, slices: 600, bytes: 600 * 4096, complete: true }]);
  });

  test('concurrent grows of two filesystems never share a slice', async () => {
    const devs = [mem(6, 'a'), mem(6, 'b')];
    const pool = await Pool.createOnDevices(devs, geometry);
    const x = await pool.createSpace(1n, { maxBytes: 100 * DATA });
    const y = await pool.createSpace(2n, { maxBytes: 100 * DATA });
    await Promise.all([x.grow(), y.grow(), x.grow(), y.grow(), x.grow(), y.grow()]);
    await x.write(Buffer.alloc(x.sizeBytes, 0xaa), 0);
    await y.write(Buffer.alloc(y.sizeBytes, 0xbb), 0);
    const bx = Buffer.alloc(x.sizeBytes);
    await x.read(bx, 0);
    expect(bx.every((v) => v === 0xaa)).toBe(true);
    expect((await reopen(devs)).listFilesystems().map((f) => f.slices)).toEqual([4, 4]);
  });
});

describe('file pool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-pool-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('create sparse files, add a file device, import from the files alone', async () => {
    const paths = [join(dir, 'd0'), join(dir, 'd1')];
    const pool = await Pool.create(paths, { sliceBytes: 64 * 1024, createSizeBytes: 4 * 1024 * 1024 });
    expect((await stat(paths[0]!)).size).toBe(4 * 1024 * 1024);
    const s = await pool.createSpace(7n, { maxBytes: 1 << 30 });
    for (let i = 0; i < 5; i++) await s.grow();
    const data = pattern(s.sizeBytes, 1);
    await s.write(data, 0);
    await s.sync();
    await pool.addDevice(join(dir, 'd2'), { createSizeBytes: 2 * 1024 * 1024 });
    await pool.createSpace(8n, { maxBytes: 1 << 30 });
    const stats = pool.stats();
    await pool.close();

    const all = [...paths, join(dir, 'd2')];
    const imported = await importPool(all);
    expect(imported.poolId).toBe(stats.poolId);
    expect(imported.filesystems).toEqual([
      { fsId: 7n, slices: 6, bytes: 6 * (64 * 1024 - 4096), complete: true },
      { fsId: 8n, slices: 1, bytes: 64 * 1024 - 4096, complete: true },
    ]);
    expect(imported.devices.map((d) => d.deviceIndex)).toEqual([0, 1, 2]);
    expect(imported.totalSlices).toBe(stats.totalSlices);

    const again = await Pool.open(all);
    const s2 = await again.openSpace(7n, { maxBytes: 1 << 30 });
    const back = Buffer.alloc(s2.sizeBytes);
    await s2.read(back, 0);
    expect(back.equals(data)).toBe(true);
    await again.close();
  });

  test('createSizeBytes never resizes an existing file', async () => {
    const p = join(dir, 'd0');
    const pool = await Pool.create([p], { sliceBytes: 64 * 1024, createSizeBytes: 2 * 1024 * 1024 });
    await pool.close();
    await expect(Pool.create([p], { sliceBytes: 64 * 1024, createSizeBytes: 8 * 1024 * 1024 })).rejects.toMatchObject({
      code: PoolErrorCode.DEVICE_NOT_EMPTY,
    });
    expect((await stat(p)).size).toBe(2 * 1024 * 1024);
  });

  test('the same path twice is refused', async () => {
    const p = join(dir, 'd0');
    await expect(Pool.create([p, join(dir, '.', 'd0')], { createSizeBytes: 1 << 20 })).rejects.toMatchObject({
      code: PoolErrorCode.DUPLICATE_DEVICE,
    });
  });
});
