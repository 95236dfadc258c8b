// Goal: FileDevice does positional I/O over real files with the documented create, size,
// read-only and error behaviour, and the block-device size probe finds the exact end.
// Method: temp files (sparse-created, pre-existing, shorter than expected) exercised through
// the BlockDevice interface; the probe runs over regular files of known sizes.
import { constants as fsConstants } from 'node:fs';
import { open, mkdtemp, readFile, readdir, readlink, rm, stat, truncate, writeFile } from 'node:fs/promises';
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

  test('a durable write goes through an O_DSYNC descriptor, and reads see it', async () => {
    const p = join(dir, 'dev');
    const d = await FileDevice.open(p, { create: { sizeBytes: 1 << 20 } });
    // Linux shows each descriptor's open flags (octal) in /proc/self/fdinfo.
    const flagsOf = async (): Promise<number[]> => {
      const out: number[] = [];
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
        if (target !== p) continue;
        const info = await readFile(join('/proc/self/fdinfo', fd), 'utf8').catch(() => '');
        const m = /^flags:\s+([0-7]+)/m.exec(info);
        if (m) out.push(parseInt(m[1]!, 8));
      }
      return out;
    };
    const flags = await flagsOf();
    expect(flags).toHaveLength(2);
    expect(flags.filter((f) => (f & fsConstants.O_DSYNC) !== 0)).toHaveLength(1);
    const data = Buffer.alloc(5000, 0x5a);
    await d.writeDurable(data, 4096 + 100);
    const back = Buffer.alloc(5000);
    await d.read(back, 4096 + 100);
    expect(back.equals(data)).toBe(true);
    await expect(d.writeDurable(Buffer.alloc(2), (1 << 20) - 1)).rejects.toThrow(/outside the device/);
    await d.close();
    expect(await flagsOf()).toEqual([]); // both descriptors closed
    expect((await readFile(p)).subarray(4196, 9196).equals(data)).toBe(true);
    // Read-only: one descriptor, and durable writes are refused like writes.
    const ro = await FileDevice.open(p, { readOnly: true });
    expect(await flagsOf()).toHaveLength(1);
    await expect(ro.writeDurable(Buffer.alloc(1), 0)).rejects.toMatchObject({ code: PoolErrorCode.READ_ONLY });
    await ro.close();
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
