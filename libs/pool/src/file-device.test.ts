// Goal: FileDevice does positional I/O over real files with the documented create, size,
// read-only and error behaviour, and the block-device size probe finds the exact end.
// Method: temp files (sparse-created, pre-existing, shorter than expected) exercised through
// the BlockDevice interface; the probe runs over regular files of known sizes.
import { open, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { PoolError, PoolErrorCode } from './errors';
import { FileDevice, probeSizeBytes } from './file-device';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-filedev-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileDevice', () => {
  test('creates a sparse file of the asked size and round-trips data', async () => {
    const p = join(dir, 'dev');
    const d = await FileDevice.open(p, { create: { sizeBytes: 64 << 20 } });
    expect(d.sizeBytes).toBe(64 << 20);
    const st = await stat(p);
    expect(st.size).toBe(64 << 20);
    expect(st.blocks * 512).toBeLessThan(1 << 20); // sparse
    const data = Buffer.alloc(10000, 0xab);
    await d.write(data, (64 << 20) - 10000);
    await d.sync();
    const back = Buffer.alloc(10000);
    await d.read(back, (64 << 20) - 10000);
    expect(back.equals(data)).toBe(true);
    await d.close();
    expect((await readFile(p)).subarray(-10000).equals(data)).toBe(true);
  });

  test('create opens an existing file as it is, never resizing it', async () => {
    const p = join(dir, 'dev');
    await writeFile(p, Buffer.alloc(8192, 1));
    const d = await FileDevice.open(p, { create: { sizeBytes: 1 << 20 } });
    expect(d.sizeBytes).toBe(8192);
    await d.close();
    expect((await stat(p)).size).toBe(8192);
  });

  test('I/O outside the device is refused', async () => {
    const d = await FileDevice.open(join(dir, 'dev'), { create: { sizeBytes: 4096 } });
    await expect(d.read(Buffer.alloc(2), 4095)).rejects.toThrow(/outside the device/);
    await expect(d.write(Buffer.alloc(1), -1)).rejects.toThrow(RangeError);
    await d.close();
  });

  test('a file that shrank under us gives a clear short-read error', async () => {
    const p = join(dir, 'dev');
    const d = await FileDevice.open(p, { create: { sizeBytes: 8192 } });
    await truncate(p, 4096);
    await expect(d.read(Buffer.alloc(4096), 2048)).rejects.toMatchObject({
      code: PoolErrorCode.DEVICE_ERROR,
      message: expect.stringMatching(/short read at 4096: the device ends before its recorded size 8192/),
    });
    await d.close();
  });

  test('read-only devices refuse writes; closed devices refuse everything', async () => {
    const p = join(dir, 'dev');
    await writeFile(p, Buffer.alloc(4096));
    const ro = await FileDevice.open(p, { readOnly: true });
    await expect(ro.write(Buffer.alloc(1), 0)).rejects.toMatchObject({ code: PoolErrorCode.READ_ONLY });
    await ro.close();
    await expect(ro.read(Buffer.alloc(1), 0)).rejects.toMatchObject({ code: PoolErrorCode.CLOSED });
    await expect(FileDevice.open(p, { readOnly: true, create: { sizeBytes: 1 } })).rejects.toBeInstanceOf(PoolError);
  });

  test('errors name the path', async () => {
    const p = join(dir, 'missing');
    await expect(FileDevice.open(p)).rejects.toMatchObject({ code: PoolErrorCode.DEVICE_ERROR, devicePath: p, message: expect.stringContaining('ENOENT') });
    await expect(FileDevice.open(dir)).rejects.toMatchObject({ devicePath: dir });
    await expect(FileDevice.open('/dev/null')).rejects.toMatchObject({ message: expect.stringContaining('not a regular file or a block device') });
  });

  test('the size probe finds the end of sector-multiple files', async () => {
    for (const sectors of [1, 2, 3, 7, 8, 1000, 12345]) {
      const p = join(dir, `probe${sectors}`);
      await writeFile(p, Buffer.alloc(0));
      await truncate(p, sectors * 512);
      const h = await open(p, 'r');
      expect(await probeSizeBytes(h)).toBe(sectors * 512);
      await h.close();
    }
    const empty = join(dir, 'empty');
    await writeFile(empty, Buffer.alloc(0));
    const h = await open(empty, 'r');
    expect(await probeSizeBytes(h)).toBe(0);
    await h.close();
  });
});
