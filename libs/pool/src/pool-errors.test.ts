// Goal: every kind of bad device set is refused with a clear PoolError naming the device, and a
// refused open (or create) leaves every device byte-for-byte as it was.
// Method: real pool files in a temp dir, damaged on purpose (foreign bytes, truncation, flipped
// label and slice header bytes, mixed pools, missing or duplicated devices); sha256 of every file
// before and after each attempt.
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { sealRecord } from './checksum';
import { PoolError, PoolErrorCode } from './errors';
import { importPool } from './import';
import { decodeLabel, encodeLabel } from './label';
import { Pool } from './pool';

const SLICE = 64 * 1024;
const SIZE = 1024 * 1024 + 6 * SLICE;
const FIRST = 1024 * 1024;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-pool-err-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function hashes(paths: string[]): Promise<string[]> {
  return Promise.all(paths.map(async (p) => createHash('sha256').update(await readFile(p)).digest('hex')));
}

/** A two-device pool with filesystem 1 on three slices spread over both devices. */
async function makePool(names = ['d0', 'd1']): Promise<string[]> {
  const paths = names.map((n) => join(dir, n));
  const pool = await Pool.create(paths, { sliceBytes: SLICE, createSizeBytes: SIZE });
  const s = await pool.createSpace(1n, { maxBytes: 1 << 30 });
  await s.grow();
  await s.grow();
  await s.write(Buffer.alloc(s.sizeBytes, 0x5a), 0);
  await s.sync();
  await pool.close();
  return paths;
}

async function patch(path: string, offset: number, bytes: Buffer): Promise<void> {
  const buf = await readFile(path);
  bytes.copy(buf, offset);
  await writeFile(path, buf);
}

async function flipByte(path: string, offset: number): Promise<void> {
  const buf = await readFile(path);
  buf[offset]! ^= 0xff;
  await writeFile(path, buf);
}

/** Opens (writable and read-only) and imports; each must fail with `code` naming `device`, writing nothing. */
async function expectRefused(paths: string[], code: PoolErrorCode, device: string | undefined, message: RegExp): Promise<void> {
  const before = await hashes(paths);
  for (const attempt of [() => Pool.open(paths), () => Pool.open(paths, { readOnly: true }), () => importPool(paths)]) {
    const err = await attempt().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PoolError);
    expect((err as PoolError).code).toBe(code);
    expect((err as PoolError).devicePath).toBe(device);
    expect((err as PoolError).message).toMatch(message);
    if (device !== undefined) expect((err as PoolError).message).toContain(device);
  }
  expect(await hashes(paths)).toEqual(before);
}

describe('refused opens', () => {
  test('a file that is not a pool (zeros, or foreign data)', async () => {
    const [d0] = await makePool(['d0']);
    const zeros = join(dir, 'zeros');
    await writeFile(zeros, Buffer.alloc(SIZE));
    await expectRefused([d0!, zeros], PoolErrorCode.NOT_A_POOL, zeros, /not a Ferry pool device/);
    const junk = join(dir, 'junk');
    await writeFile(junk, Buffer.alloc(SIZE, 'not a pool'));
    await expectRefused([junk], PoolErrorCode.NOT_A_POOL, junk, /not a Ferry pool device/);
    const tiny = join(dir, 'tiny');
    await writeFile(tiny, Buffer.alloc(100));
    await expectRefused([tiny], PoolErrorCode.NOT_A_POOL, tiny, /no label/);
  });

  test('a truncated device', async () => {
    const [d0, d1] = await makePool();
    await truncate(d1!, SIZE - SLICE);
    await expectRefused([d0!, d1!], PoolErrorCode.TRUNCATED, d1, /is 1376256 bytes but its label records 1441792/);
  });

  test('both label copies damaged', async () => {
    const [d0, d1] = await makePool();
    await flipByte(d0!, 20);
    await flipByte(d0!, 4096 + 70);
    await expectRefused([d0!, d1!], PoolErrorCode.BAD_LABEL, d0, /both label copies are damaged \(copy 0: damaged \(checksum mismatch\); copy 1: damaged \(checksum mismatch\)\)/);
  });

  test('a label of an unsupported version', async () => {
    const [d0] = await makePool(['d0']);
    for (const off of [0, 4096]) {
      const rec = (await readFile(d0!)).subarray(off, off + 512);
      rec.writeUInt32LE(2, 8);
      sealRecord(rec);
      await patch(d0!, off, rec);
    }
    await expectRefused([d0!], PoolErrorCode.UNSUPPORTED_VERSION, d0, /version 2 is not supported/);
  });

  test('a corrupted slice header', async () => {
    const [d0, d1] = await makePool();
    const slot2 = FIRST + 2 * SLICE;
    await flipByte(d1!, slot2 + 60);
    await expectRefused([d0!, d1!], PoolErrorCode.BAD_SLICE_HEADER, d1, new RegExp(`slot 2 \\(byte ${slot2}\\): checksum mismatch`));
  });

  test('a slice header written to the wrong place (valid checksum, wrong slot)', async () => {
    const [d0] = await makePool(['d0']);
    const h = (await readFile(d0!)).subarray(FIRST, FIRST + 4096);
    await patch(d0!, FIRST + 3 * SLICE, Buffer.from(h));
    await expectRefused([d0!], PoolErrorCode.BAD_SLICE_HEADER, d0, /slot 3 .*not this location/);
  });

  test('devices of different pools', async () => {
    const [a0] = await makePool(['a0']);
    const [b0] = await makePool(['b0']);
    await expectRefused([a0!, b0!], PoolErrorCode.MIXED_POOLS, b0, /belongs to pool [0-9a-f]{32}, but .*a0 belongs to pool/);
  });

  test('the same device twice (a copy)', async () => {
    const [d0] = await makePool(['d0']);
    const copy = join(dir, 'copy');
    await copyFile(d0!, copy);
    await expectRefused([d0!, copy], PoolErrorCode.DUPLICATE_DEVICE, copy, /same pool device as .*d0/);
  });

  test('a missing device in the middle of the index range', async () => {
    const paths = [join(dir, 'd0'), join(dir, 'd1'), join(dir, 'd2')];
    const pool = await Pool.create(paths, { sliceBytes: SLICE, createSizeBytes: SIZE });
    await pool.close();
    await expectRefused([paths[0]!, paths[2]!], PoolErrorCode.MISSING_DEVICE, undefined, /device index 1 of pool [0-9a-f]+ is missing \(found indexes 0, 2\)/);
  });
});

describe('tolerated damage', () => {
  test('one bad label copy: the good one is used and the damage reported; nothing is written', async () => {
    for (const copy of [0, 1]) {
      const [d0, d1] = await makePool([`x${copy}`, `y${copy}`]);
      await flipByte(d0!, copy * 4096 + 30);
      const before = await hashes([d0!, d1!]);
      const pool = await Pool.open([d0!, d1!]);
      expect(pool.warnings).toEqual([`${d0}: label copy ${copy} is damaged (checksum mismatch); using copy ${1 - copy}`]);
      const s = await pool.openSpace(1n, { maxBytes: 1 << 30 });
      const back = Buffer.alloc(s.sizeBytes);
      await s.read(back, 0);
      expect(back.every((b) => b === 0x5a)).toBe(true);
      await pool.close();
      expect(await hashes([d0!, d1!])).toEqual(before);
      const imported = await importPool([d0!, d1!]);
      expect(imported.warnings).toHaveLength(1);
      // An explicit repair rewrites the damaged copy; afterwards the pool opens without warnings.
      const writable = await Pool.open([d0!, d1!]);
      expect(await writable.repairLabels()).toEqual([d0]);
      expect(await writable.repairLabels()).toEqual([]);
      await writable.close();
      const healed = await Pool.open([d0!, d1!]);
      expect(healed.warnings).toEqual([]);
      await healed.close();
      expect(await hashes([d1!])).toEqual([before[1]]);
    }
  });

  test('valid copies that differ: the newer generation wins; equal generations are refused', async () => {
    const [d0] = await makePool(['d0']);
    const dec = decodeLabel((await readFile(d0!)).subarray(0, 512), 0);
    if (dec.kind !== 'ok') throw new Error('setup');
    await patch(d0!, 4096, encodeLabel({ ...dec.label, generation: 2n }, 1));
    const pool = await Pool.open([d0!], { readOnly: true });
    expect(pool.warnings).toEqual([`${d0}: label copies differ; using copy 1 (generation 2)`]);
    await pool.close();
    await patch(d0!, 4096, encodeLabel({ ...dec.label, deviceSizeBytes: dec.label.deviceSizeBytes + 1 }, 1));
    await expectRefused([d0!], PoolErrorCode.BAD_LABEL, d0, /both valid but disagree/);
  });

  test('a missing last device: the pool opens, the filesystem that used it is incomplete', async () => {
    const [d0, d1] = await makePool();
    const pool = await Pool.open([d0!]);
    expect(pool.listFilesystems()).toEqual([{ fsId: 1n, slices: 2, bytes: 2 * (SLICE - 4096), complete: false }]);
    await expect(pool.openSpace(1n, { maxBytes: 1 << 30 })).rejects.toMatchObject({
      code: PoolErrorCode.MISSING_SLICE,
      message: expect.stringMatching(/slice 1 was not found on any device, though slices up to 2 exist/),
    });
    await pool.close();
    expect((await importPool([d0!, d1!])).filesystems[0]!.complete).toBe(true);
  });

  test('FileDevice errors name the path', async () => {
    const missing = join(dir, 'nope');
    await expect(Pool.open([missing])).rejects.toMatchObject({ code: PoolErrorCode.DEVICE_ERROR, message: expect.stringContaining(missing) });
    await expect(Pool.open([dir])).rejects.toMatchObject({ code: PoolErrorCode.DEVICE_ERROR, message: expect.stringContaining(dir) });
  });
});
