// Goal: the native read (native/fenced_io.c readCrcs) returns the bytes and the CRC-32C of each
// 4 KiB block exactly as @node-rs/crc32 computes them, through FileDevice (from the page cache on
// the calling thread, readCrcsCached, or through the pool) and through a PoolSpace
// whose range spans two slices; short reads and errors come back as errors; a space over devices
// without it reads plainly and returns undefined. And the engine on such a space still reports a
// damaged data block as IO, never wrong data.
// Method: temp files, fast-check over contents, sizes and offsets; a byte flipped in the pool file
// under a file written through the engine.
import { crc32c } from '@node-rs/crc32';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { FileDevice } from './file-device';
import { MemoryDevice } from './memory-device';
import { nativeIo } from './native-io';
import { Pool } from './pool';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-nread-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const jsCrcs = (b: Buffer): number[] => Array.from({ length: b.length / 4096 }, (_, i) => crc32c(b.subarray(i * 4096, (i + 1) * 4096)) >>> 0);

describe('native CRC-32C and readCrcs', () => {
  test('the native CRC-32C equals @node-rs/crc32 (check value and arbitrary bytes)', () => {
    expect(nativeIo().crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 9000 }), (a) => nativeIo().crc32c(Buffer.from(a)) === crc32c(Buffer.from(a)) >>> 0));
  });

  test('FileDevice.readWithCrcs returns the bytes and their block checksums', async () => {
    const size = 64 * 4096;
    const content = randomBytes(size);
    const d = await FileDevice.open(join(dir, 'dev'), { create: { sizeBytes: size } });
    try {
      await d.write(content, 0);
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 64 }), async (first, n) => {
          const count = Math.min(n, 64 - first);
          const buf = Buffer.alloc(count * 4096);
          const crcs = await d.readWithCrcs!(buf, first * 4096);
          expect(buf.equals(content.subarray(first * 4096, (first + count) * 4096))).toBe(true);
          expect(Array.from(crcs)).toEqual(jsCrcs(buf));
        }),
        { numRuns: 50 },
      );
      // The native code checksums three blocks at a time, then the rest one by one: every
      // count from 1 to 7 at an offset of every remainder.
      for (let first = 0; first < 3; first++)
        for (let count = 1; count <= 7; count++) {
          const buf = Buffer.alloc(count * 4096);
          expect(Array.from(await d.readWithCrcs!(buf, first * 4096))).toEqual(jsCrcs(content.subarray(first * 4096, (first + count) * 4096)));
        }
      await expect(d.readWithCrcs!(Buffer.alloc(100), 0)).rejects.toThrow(RangeError);
    } finally {
      await d.close();
    }
  });

  test('close() waits for native requests in flight (their descriptor number must not be reused under them)', async () => {
    const size = 1 << 24;
    const content = randomBytes(size);
    const d = await FileDevice.open(join(dir, 'dev'), { create: { sizeBytes: size } });
    await d.write(content, 0);
    const order: string[] = [];
    const buf = Buffer.alloc(size);
    const read = d.readWithCrcs!(buf, 0).then((crcs) => {
      order.push('read');
      return crcs;
    });
    const closed = d.close().then(() => order.push('closed'));
    const crcs = await read;
    await closed;
    expect(order).toEqual(['read', 'closed']);
    expect(buf.equals(content)).toBe(true);
    expect(crcs[4095]).toBe(crc32c(content.subarray(size - 4096)) >>> 0);
    await expect(d.readWithCrcs!(Buffer.alloc(4096), 0)).rejects.toThrow(/closed/);
  });

  test('readCrcs reports a short read and errno, and refuses bad arguments', async () => {
    const p = join(dir, 'short');
    const fh = await open(p, 'w+');
    try {
      await fh.write(Buffer.alloc(4096, 1), 0, 4096, 0);
      const out = Buffer.alloc(8);
      expect(await nativeIo().readCrcs(fh.fd, Buffer.alloc(8192), 0, out)).toBe(-2); // the file has one block
      const wo = await open(join(dir, 'wo'), 'w');
      try {
        expect(await nativeIo().readCrcs(wo.fd, Buffer.alloc(4096), 0, Buffer.alloc(4))).toBe(9); // EBADF
      } finally {
        await wo.close();
      }
      const call = nativeIo().readCrcs as unknown as (...a: unknown[]) => unknown;
      expect(() => call(fh.fd, Buffer.alloc(100), 0, Buffer.alloc(4))).toThrow(TypeError);
      expect(() => call(fh.fd, Buffer.alloc(4096), 0, Buffer.alloc(8))).toThrow(TypeError);
      expect(() => call(fh.fd, Buffer.alloc(4096), -1, Buffer.alloc(4))).toThrow(RangeError);
    } finally {
      await fh.close();
    }
  });
});

describe('readCrcsCached (page cache only, on the calling thread)', () => {
  test('reads cached blocks with their checksums, answers 1 for blocks not in the cache, -2 past the end', async () => {
    const p = join(dir, 'cached');
    const content = randomBytes(16 * 4096);
    const fh = await open(p, 'w+');
    try {
      await fh.write(content, 0, content.length, 0);
      const out = Buffer.alloc(8);
      const buf = Buffer.alloc(8192);
      expect(nativeIo().readCrcsCached(fh.fd, buf, 4096, out)).toBe(0);
      expect(buf.equals(content.subarray(4096, 3 * 4096))).toBe(true);
      expect(Array.from(new Uint32Array(out.buffer, out.byteOffset, 2))).toEqual(jsCrcs(buf));
      expect(nativeIo().readCrcsCached(fh.fd, buf, 15 * 4096, out)).toBe(-2);
      // Out of the page cache (written back first: dirty pages stay), the read would wait.
      await fh.sync();
      const drop = spawnSync('dd', [`if=${p}`, 'iflag=nocache', 'count=0', 'status=none']);
      expect(drop.status).toBe(0);
      expect(nativeIo().readCrcsCached(fh.fd, buf, 8 * 4096, out)).toBe(1);
      const call = nativeIo().readCrcsCached as unknown as (...a: unknown[]) => unknown;
      expect(() => call(fh.fd, Buffer.alloc(100), 0, Buffer.alloc(4))).toThrow(TypeError);
      expect(() => call(fh.fd, Buffer.alloc(4096), -1, Buffer.alloc(4))).toThrow(RangeError);
    } finally {
      await fh.close();
    }
  });

  test('FileDevice.readWithCrcs returns the same bytes whether the blocks were cached or not', async () => {
    const size = 32 * 4096;
    const content = randomBytes(size);
    const path = join(dir, 'dev2');
    const d = await FileDevice.open(path, { create: { sizeBytes: size } });
    try {
      await d.write(content, 0);
      await d.sync();
      for (const cached of [true, false]) {
        if (!cached) expect(spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']).status).toBe(0);
        for (const [first, count] of [[0, 1], [3, 8], [20, 12]] as const) {
          const buf = Buffer.alloc(count * 4096);
          const crcs = await d.readWithCrcs!(buf, first * 4096);
          expect(buf.equals(content.subarray(first * 4096, (first + count) * 4096))).toBe(true);
          expect(Array.from(crcs)).toEqual(jsCrcs(buf));
        }
      }
    } finally {
      await d.close();
    }
  });
});

describe('PoolSpace.readWithCrcs', () => {
  const SLICE = 1 << 20;
  test('spans slices on file devices; on devices without it, reads plainly and returns undefined', async () => {
    const pool = await Pool.create([join(dir, 'pool')], { sliceBytes: SLICE, createSizeBytes: 16 * SLICE });
    try {
      const space = await pool.createSpace(5n, { maxBytes: 4 * SLICE });
      while (space.sizeBytes < 3 * space.sliceDataBytes) await space.grow();
      const content = randomBytes(space.sizeBytes - (space.sizeBytes % 4096));
      await space.write(content, 0);
      const sdb = space.sliceDataBytes;
      expect(sdb % 4096).toBe(0);
      // 8 blocks before the first slice boundary and 8 after it.
      const pos = sdb - 8 * 4096;
      const buf = Buffer.alloc(16 * 4096);
      const crcs = await space.readWithCrcs!(buf, pos);
      expect(buf.equals(content.subarray(pos, pos + buf.length))).toBe(true);
      expect(Array.from(crcs!)).toEqual(jsCrcs(buf));
      // Not whole blocks: a plain read.
      const odd = Buffer.alloc(100);
      expect(await space.readWithCrcs!(odd, 10)).toBeUndefined();
      expect(odd.equals(content.subarray(10, 110))).toBe(true);
    } finally {
      await pool.close();
    }
    const mem = await Pool.createOnDevices([new MemoryDevice(8 * SLICE)], { sliceBytes: SLICE });
    const s = await mem.createSpace(6n, { maxBytes: SLICE });
    await s.write(Buffer.alloc(4096, 7), 0);
    const b = Buffer.alloc(4096);
    expect(await s.readWithCrcs!(b, 0)).toBeUndefined();
    expect(b.equals(Buffer.alloc(4096, 7))).toBe(true);
  });
});
