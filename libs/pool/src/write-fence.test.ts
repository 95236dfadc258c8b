// Goal: the native fenced write (native/fenced_io.c) checks its deadline in the IO thread when
// the write starts, not when it was queued: a write queued while the fence was open, whose
// thread starts after the deadline, writes nothing; an open fence writes every byte; device
// errors come back as errno, bad arguments as TypeError. Through FileDevice: a closed fence is
// FenceClosedError and the file is unchanged.
// Method: a temp file; libuv's thread pool kept busy with pbkdf2 jobs so a queued write starts
// late (the case of a process stopped with writes queued); the clock is the native one.
import { pbkdf2, pbkdf2Sync } from 'node:crypto';
import { open, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { FileDevice } from './file-device';
import { nativeIo as fencedIo } from './native-io';
import { FenceClosedError, WriteFence } from './write-fence';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-fence-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Occupies every thread of libuv's pool for about `ms` (two rounds of jobs per thread). */
function busyPool(ms: number): Promise<unknown> {
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  let iterations = 1000;
  // Calibrate one job on this machine.
  for (;;) {
    const s = performance.now();
    pbkdf2Sync('x', 'y', iterations, 32, 'sha256');
    const took = performance.now() - s;
    if (took > 5) {
      iterations = Math.ceil((iterations * ms) / 2 / took);
      break;
    }
    iterations *= 4;
  }
  return Promise.all(Array.from({ length: threads * 2 }, () => new Promise((r) => pbkdf2('x', 'y', iterations, 32, 'sha256', r))));
}

describe('fencedWrite', () => {
  test('writes everything while the fence is open, nothing when its thread starts after the deadline', async () => {
    const p = join(dir, 'dev');
    const fh = await open(p, 'w+');
    try {
      const io = fencedIo();
      const fence = new WriteFence();
      fence.setDeadline(io.monotonicNs() + 60_000_000_000n);
      expect(await io.fencedWrite(fh.fd, Buffer.alloc(3 << 20, 0x11), 4096, fence.cell)).toBe(0);
      expect((await readFile(p)).subarray(4096).equals(Buffer.alloc(3 << 20, 0x11))).toBe(true);

      // Queued while open (deadline 50 ms ahead); the pool is busy for about 400 ms.
      const busy = busyPool(400);
      fence.setDeadline(io.monotonicNs() + 50_000_000n);
      const queuedAt = performance.now();
      const late = io.fencedWrite(fh.fd, Buffer.alloc(4096, 0x22), 0, fence.cell);
      expect(await late).toBe(-1);
      expect(performance.now() - queuedAt).toBeGreaterThan(50);
      await busy;
      expect((await readFile(p)).subarray(0, 4096).equals(Buffer.alloc(4096))).toBe(true);

      // The same, with a deadline the wait does not reach: written.
      const busy2 = busyPool(200);
      fence.setDeadline(io.monotonicNs() + 60_000_000_000n);
      expect(await io.fencedWrite(fh.fd, Buffer.alloc(4096, 0x33), 0, fence.cell)).toBe(0);
      await busy2;
      expect((await readFile(p)).subarray(0, 4096).equals(Buffer.alloc(4096, 0x33))).toBe(true);
    } finally {
      await fh.close();
    }
  }, 30_000);

  test('returns errno for a failed write and refuses bad arguments', async () => {
    const p = join(dir, 'ro');
    await (await open(p, 'w')).close();
    const fh = await open(p, 'r');
    try {
      const fence = new WriteFence();
      fence.setDeadline(fencedIo().monotonicNs() + 60_000_000_000n);
      expect(await fencedIo().fencedWrite(fh.fd, Buffer.alloc(1), 0, fence.cell)).toBe(9); // EBADF
      const call = fencedIo().fencedWrite as unknown as (...a: unknown[]) => unknown;
      expect(() => call(fh.fd, 'not a buffer', 0, fence.cell)).toThrow(TypeError);
      expect(() => call(fh.fd, Buffer.alloc(1), 0, Buffer.alloc(4))).toThrow(TypeError);
      expect(() => call(fh.fd, Buffer.alloc(1), -1, fence.cell)).toThrow(RangeError);
      expect(() => call(fh.fd, Buffer.alloc(1))).toThrow(TypeError);
    } finally {
      await fh.close();
    }
  });
});

describe('FileDevice with a fence', () => {
  test('writes and durably writes while open; refuses with FenceClosedError and leaves the file unchanged once closed', async () => {
    const p = join(dir, 'dev');
    const d = await FileDevice.open(p, { create: { sizeBytes: 1 << 20 } });
    try {
      const fence = new WriteFence();
      fence.setDeadline(process.hrtime.bigint() + 60_000_000_000n);
      await d.write(Buffer.alloc(4096, 1), 0, fence);
      await d.writeDurable(Buffer.alloc(4096, 2), 4096, fence);
      fence.close();
      expect(fence.isOpenNow()).toBe(false);
      await expect(d.write(Buffer.alloc(4096, 3), 0, fence)).rejects.toBeInstanceOf(FenceClosedError);
      await expect(d.writeDurable(Buffer.alloc(4096, 4), 4096, fence)).rejects.toBeInstanceOf(FenceClosedError);
      const back = await readFile(p);
      expect(back.subarray(0, 4096).equals(Buffer.alloc(4096, 1))).toBe(true);
      expect(back.subarray(4096, 8192).equals(Buffer.alloc(4096, 2))).toBe(true);
    } finally {
      await d.close();
    }
  });
});
