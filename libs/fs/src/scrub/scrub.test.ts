// Goal: the online scrub finds damaged data blocks and metadata pages of a live filesystem, and
// only those: no false report while files are rewritten (and their old blocks reused) under it;
// it reports progress and stops when cancelled; with a rate limit it keeps under it and still
// stops promptly when cancelled.
// Method: an engine on a real MetaVolume over a real pool file in a temp dir; damage is garbage
// written into the pool at the block's address through a second Space on the same filesystem.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool, type Space } from '@ferry/pool';
import { type FileRef, type FileSystem, FsErrorCode, StableHow } from '../api';
import { formatFileSystem, openFileSystem } from '../engine/format';
import { KeyPrefix, extentBlockCount, extentKeyFileBlock, extentVolBlock, prefixRange } from '../engine/layout';
import { owner, tickingClock } from '../engine/test-helpers';
import { type MetaVolume, formatVolume, openVolume } from '../meta/meta-volume';
import { scrubFileSystem } from './scrub';

const SLICE = 16 * 1024 * 1024;
const FSID = 3n;
const ref = (a: { ino: bigint; generation: number }): FileRef => ({ ino: a.ino, generation: a.generation });
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function fresh(): Promise<{ pool: Pool; volume: MetaVolume; fs: FileSystem; raw: Space }> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-scrub-'));
  dirs.push(dir);
  const pool = await Pool.create([join(dir, 'dev0.img')], { createSizeBytes: 16 * SLICE, sliceBytes: SLICE });
  const space = await pool.createSpace(FSID, { maxBytes: 8 * SLICE });
  await formatVolume(space, { volumeId: FSID, maxBytes: 8 * SLICE, logBytes: 1024 * 1024 });
  const volume = await openVolume(space, { cachePages: 64, checkpointIntervalMs: 0 });
  const clock = tickingClock();
  await formatFileSystem(volume, { fsid: FSID, clock });
  const fs = await openFileSystem(volume, { fsid: FSID, clock, random: (n) => Buffer.alloc(n, 1) });
  const raw = await pool.openSpace(FSID, { maxBytes: 8 * SLICE });
  return { pool, volume, fs, raw };
}

async function close(t: { pool: Pool; volume: MetaVolume; fs: FileSystem }): Promise<void> {
  await t.fs.close();
  await t.volume.close();
  await t.pool.close();
}

function pattern(seed: number, bytes: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (Math.imul(seed + (i >> 2), 2654435761) >>> ((i & 3) * 8)) & 0xff;
  return b;
}

async function writeFile(fs: FileSystem, name: string, data: Buffer): Promise<FileRef> {
  const f = await fs.create(fs.root, name, { how: 'unchecked', attrs: {} }, owner);
  await fs.write(ref(f.attr), 0n, data, StableHow.FILE_SYNC);
  return ref(f.attr);
}

/** Volume block of file block `fileBlock` of `ino`, from its extent record. */
async function volBlockOf(volume: MetaVolume, ino: bigint, fileBlock: number): Promise<number> {
  const [from, to] = prefixRange(KeyPrefix.EXTENT);
  let found: number | undefined;
  await volume.scan(from, to, (k, v) => {
    const fb = extentKeyFileBlock(k);
    if (k.readBigUInt64BE(1) === ino && fb <= fileBlock && fileBlock < fb + extentBlockCount(v)) {
      found = extentVolBlock(v) + (fileBlock - fb);
      return false;
    }
    return true;
  });
  if (found === undefined) throw new Error(`no extent for ino ${ino} block ${fileBlock}`);
  return found;
}

describe('online scrub', () => {
  it('finds nothing on a clean filesystem and checks every data block and page', async () => {
    const t = await fresh();
    for (let i = 0; i < 5; i++) await writeFile(t.fs, `f${i}`, pattern(i, 100 * 4096 + 17));
    await t.volume.checkpoint();
    const seen: number[] = [];
    const r = await scrubFileSystem(t.volume, t.fs, { batchBlocks: 64, onProgress: (done, total) => seen.push(done / total) });
    expect(r.damaged).toEqual([]);
    expect(r.blocksChecked).toBe(5 * 101);
    expect(r.bytesChecked).toBe(5 * 101 * 4096);
    expect(r.pagesChecked).toBeGreaterThan(0);
    expect(seen[seen.length - 1]).toBe(1);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    await close(t);
  });

  it('reports a data block with garbage on the device by inode and offset', async () => {
    const t = await fresh();
    await writeFile(t.fs, 'a', pattern(1, 64 * 4096));
    const b = await writeFile(t.fs, 'b', pattern(2, 64 * 4096));
    const v = await volBlockOf(t.volume, b.ino, 37);
    await t.raw.write(Buffer.alloc(4096, 0xee), v * 4096);
    const r = await scrubFileSystem(t.volume, t.fs, { batchBlocks: 16 });
    expect(r.damaged.map((d) => [d.ino, d.offset])).toEqual([[b.ino.toString(), 37 * 4096]]);
    expect(r.damagedCount).toBe(1);
    expect(r.blocksChecked).toBe(128);
    await close(t);
  });

  it('an engine read of the damaged block is IO, its neighbours read back (checksums from the IO thread)', async () => {
    const t = await fresh();
    expect(t.raw.readWithCrcs).toBeDefined(); // a pool file with the native addon: the engine's reads get their checksums from the read
    const data = pattern(3, 64 * 4096);
    const f = await writeFile(t.fs, 'c', data);
    const v = await volBlockOf(t.volume, f.ino, 20);
    const bad = Buffer.from(data.subarray(20 * 4096, 21 * 4096));
    bad[100] = (bad[100]! ^ 0x01) & 0xff; // one bit
    await t.raw.write(bad, v * 4096);
    await expect(t.fs.read(f, 0n, 64 * 4096)).rejects.toMatchObject({ code: FsErrorCode.IO });
    await expect(t.fs.read(f, 20n * 4096n + 5n, 1)).rejects.toMatchObject({ code: FsErrorCode.IO });
    expect((await t.fs.read(f, 0n, 20 * 4096)).data.equals(data.subarray(0, 20 * 4096))).toBe(true);
    expect((await t.fs.read(f, 21n * 4096n, 43 * 4096)).data.equals(data.subarray(21 * 4096))).toBe(true);
    await close(t);
  });

  it('reports a damaged metadata page of the checkpointed tree', async () => {
    const t = await fresh();
    for (let i = 0; i < 300; i++) await writeFile(t.fs, `file-${i}`, pattern(i, 4096));
    await t.volume.checkpoint();
    const { sb } = t.volume.internals;
    expect(sb.treeHeight).toBeGreaterThan(1);
    // Garbage over the root page on the device; the engine keeps serving from its cache.
    await t.raw.write(Buffer.alloc(4096, 0x5a), sb.rootBlock * 4096);
    const r = await scrubFileSystem(t.volume, t.fs);
    expect(r.damaged.map((d) => [d.ino, d.offset])).toEqual([['metadata', sb.rootBlock * 4096]]);
    await close(t);
  });

  it('does not report a block rewritten and reused between its read and the check', async () => {
    const t = await fresh();
    const f = await writeFile(t.fs, 'busy', pattern(7, 32 * 4096));
    const victim = await volBlockOf(t.volume, f.ino, 5);
    let raced = false;
    // The scrub's read of the victim's run first waits for the file to be rewritten (copy-on-
    // write: the victim is freed), checkpoints make it reusable, and new contents land on it, as
    // another file's allocation would write them.
    const spy = new Proxy(t.volume, {
      get(target, prop, receiver) {
        if (prop === 'readBlocks')
          return async (block: number, buf: Buffer) => {
            if (!raced && block <= victim && victim < block + buf.length / 4096) {
              raced = true;
              await t.fs.write(f, 0n, pattern(8, 32 * 4096), StableHow.FILE_SYNC);
              await t.volume.checkpoint();
              await t.volume.checkpoint();
              expect(await volBlockOf(t.volume, f.ino, 5)).not.toBe(victim);
              await t.raw.write(Buffer.alloc(4096, 0x77), victim * 4096);
            }
            return target.readBlocks(block, buf);
          };
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const r = await scrubFileSystem(spy, t.fs, { metadata: false });
    expect(raced).toBe(true);
    expect(r.damaged).toEqual([]);
    expect(r.recheckedClean).toBeGreaterThanOrEqual(1);
    await close(t);
  });

  it('reports nothing while files are rewritten, truncated and removed concurrently', async () => {
    const t = await fresh();
    const files: FileRef[] = [];
    for (let i = 0; i < 8; i++) files.push(await writeFile(t.fs, `w${i}`, pattern(i, 48 * 4096)));
    let stop = false;
    let n = 0;
    const writer = (async () => {
      while (!stop) {
        const f = files[n % files.length]!;
        await t.fs.write(f, BigInt((n % 40) * 4096), pattern(100 + n, 8 * 4096), n % 3 === 0 ? StableHow.FILE_SYNC : StableHow.UNSTABLE);
        if (n % 7 === 0) await t.fs.setattr(f, { size: BigInt(((n % 5) + 1) * 9 * 4096 + 5) });
        if (n % 11 === 0) await t.volume.checkpoint();
        if (n % 13 === 0) {
          const name = `tmp${n}`;
          await writeFile(t.fs, name, pattern(n, 20 * 4096));
          await t.fs.remove(t.fs.root, name);
        }
        n++;
      }
    })();
    let rounds = 0;
    while (n < 300 || rounds < 3) {
      const r = await scrubFileSystem(t.volume, t.fs, { batchBlocks: 8 });
      expect(r.damaged).toEqual([]);
      rounds++;
    }
    stop = true;
    await writer;
    expect(rounds).toBeGreaterThanOrEqual(3);
    await close(t);
  });

  it('stops with an AbortError when cancelled', async () => {
    const t = await fresh();
    for (let i = 0; i < 4; i++) await writeFile(t.fs, `c${i}`, pattern(i, 64 * 4096));
    const ac = new AbortController();
    let lastDone = 0;
    const run = scrubFileSystem(t.volume, t.fs, {
      batchBlocks: 16,
      signal: ac.signal,
      onProgress: (done) => {
        lastDone = done;
        if (done >= 32) ac.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(lastDone).toBeLessThan(4 * 64);
    await close(t);
  });

  it('keeps under maxBytesPerSecond on average', async () => {
    const t = await fresh();
    for (let i = 0; i < 4; i++) await writeFile(t.fs, `r${i}`, pattern(i, 2 * 1024 * 1024));
    await t.volume.checkpoint();
    const rate = 16 * 1024 * 1024;
    const t0 = performance.now();
    const r = await scrubFileSystem(t.volume, t.fs, { maxBytesPerSecond: rate });
    const elapsedMs = performance.now() - t0;
    expect(r.damaged).toEqual([]);
    expect(r.bytesChecked).toBe(8 * 1024 * 1024);
    // 8 MiB at 16 MiB/s is 500 ms, less the last 256 KiB read (granted without waiting for its
    // own share). Unthrottled, this scrub takes a few ms.
    const minMs = ((r.bytesChecked - 64 * 4096) / rate) * 1000;
    expect(elapsedMs, `throttled ${r.throttledMs} ms`).toBeGreaterThanOrEqual(minMs);
    expect(r.throttledMs).toBeGreaterThan(0);
    expect(r.throttledMs).toBeLessThanOrEqual(elapsedMs + 1);
    await close(t);
  });

  it('stops promptly when cancelled while throttled', async () => {
    const t = await fresh();
    for (let i = 0; i < 4; i++) await writeFile(t.fs, `s${i}`, pattern(i, 64 * 4096));
    const ac = new AbortController();
    // 256 KiB/s: each 256 KiB read waits a second for its turn.
    const run = scrubFileSystem(t.volume, t.fs, { maxBytesPerSecond: 256 * 1024, signal: ac.signal, metadata: false });
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    ac.abort();
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - t0).toBeLessThan(200);
    await close(t);
  });
});
