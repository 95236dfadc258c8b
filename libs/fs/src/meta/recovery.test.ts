// Goal: recovery picks the right superblock, refuses damaged pages and stale owners' log
// records with clear errors, and costs I/O in proportion to the log tail, not the volume.
// Method: build volumes on in-memory spaces, damage chosen bytes (a page bit, a superblock
// copy, both copies), reopen, and count the bytes the space serves during recovery.
import { describe, expect, it } from 'vitest';
import { BLOCK_BYTES, LOG_START_BLOCK } from './layout';
import { formatVolume, openVolume, readSuperblock } from './meta-volume';
import { CrashSpace, seededRandom } from './testing/crash-space';
import { MemorySpace } from './testing/memory-space';
import { verifyVolume } from './verify';
import { CorruptionError, VolumeFailedError, VolumeFullError } from './volume';
import { TxTooLargeError } from './wal';

const SLICE = 4 * 1024 * 1024;
const key = (i: number): Buffer => Buffer.from(`key-${String(i).padStart(7, '0')}`);

async function build(n: number, slices = 4): Promise<MemorySpace> {
  const space = new MemorySpace(SLICE, slices, 16);
  await formatVolume(space, { volumeId: 9n, maxBytes: 16 * SLICE });
  const vol = await openVolume(space, { cachePages: 32, checkpointIntervalMs: 0 });
  for (let i = 0; i < n; i += 50) {
    const puts: Array<[Buffer, Buffer]> = [];
    for (let j = i; j < Math.min(n, i + 50); j++) puts.push([key(j), Buffer.alloc(64, j & 255)]);
    await vol.apply({ puts, dels: [] });
  }
  await vol.close();
  return space;
}

describe('corruption', () => {
  it('a flipped bit in a page is a CorruptionError naming the page, on get and in verify', async () => {
    const space = await build(3000);
    const { sb } = await readSuperblock(space);
    expect(sb.treeHeight).toBeGreaterThan(1);
    const pos = sb.rootBlock * BLOCK_BYTES + 9000;
    space.slices[Math.floor(pos / SLICE)]![pos % SLICE]! ^= 0x04;
    const vol = await openVolume(space, { readOnly: true });
    const err = await vol.get(key(5)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toBe(`page ${sb.rootBlock}: checksum mismatch`);
    await vol.close();
    const report = await verifyVolume(space);
    expect(report.ok).toBe(false);
    expect(report.errors).toContain(`page ${sb.rootBlock}: checksum mismatch`);
  });

  it('a bad newest superblock copy falls back to the other, which still recovers everything', async () => {
    const space = await build(2000);
    const vol = await openVolume(space, { cachePages: 32, checkpointIntervalMs: 0 });
    const lsn = await vol.apply({ puts: [[Buffer.from('after'), Buffer.from('x')]], dels: [key(7)] });
    await vol.durable(lsn);
    await vol.checkpoint();
    const { sb, copy } = await readSuperblock(space);
    // Damage the newest copy after its checkpoint completed (bit rot, or a torn flip).
    const at = (copy === 'A' ? 0 : 1) * BLOCK_BYTES + 40;
    space.slices[0]![at]! ^= 0xff;
    const { sb: older } = await readSuperblock(space);
    expect(older.seq).toBe(sb.seq - 1n);
    const again = await openVolume(space, { cachePages: 32, checkpointIntervalMs: 0 });
    expect(await again.get(Buffer.from('after'))).toEqual(Buffer.from('x'));
    expect(await again.get(key(7))).toBeUndefined();
    expect(await again.get(key(8))).toEqual(Buffer.alloc(64, 8));
    await again.close();
    expect((await verifyVolume(space)).errors).toEqual([]);
    void vol;
  });

  it('both superblock copies bad: a clear CorruptionError', async () => {
    const space = await build(10);
    space.slices[0]![100]! ^= 1;
    space.slices[0]![BLOCK_BYTES + 100]! ^= 1;
    await expect(openVolume(space)).rejects.toThrow('superblock: no valid copy (A: checksum mismatch; B: checksum mismatch)');
  });

  it('never formatted: a clear CorruptionError', async () => {
    await expect(openVolume(new MemorySpace(SLICE, 1))).rejects.toThrow('superblock: no valid copy (A: bad magic; B: bad magic)');
  });
});

describe('recovery cost', () => {
  it('replay reads the log tail only, whatever the size of the tree', async () => {
    const readsAt = async (treeKeys: number): Promise<{ log: number; total: number; replayed: number }> => {
      const space = await build(treeKeys, 8);
      const vol = await openVolume(space, { cachePages: 32, checkpointIntervalMs: 0 });
      await vol.checkpoint();
      // A tail of 20 small transactions, durable but not checkpointed; then the power goes.
      let lsn = 0n;
      for (let i = 0; i < 20; i++) lsn = await vol.apply({ puts: [[key(i * 7), Buffer.from(`tail${i}`)]], dels: [] });
      await vol.durable(lsn);
      const image = new MemorySpace(SLICE, 0, 16);
      for (const s of space.slices) image.slices.push(Buffer.from(s));
      image.traceReads = true;
      const { sb } = await readSuperblock(image);
      const logStart = LOG_START_BLOCK * BLOCK_BYTES;
      const logEnd = logStart + sb.logBlocks * BLOCK_BYTES;
      image.readTrace = [];
      const re = await openVolume(image, { cachePages: 32, readOnly: true });
      expect(await re.get(key(7 * 19))).toEqual(Buffer.from('tail19'));
      const log = image.readTrace.filter(([p]) => p >= logStart && p < logEnd).reduce((a, [, n]) => a + n, 0);
      const total = image.readTrace.reduce((a, [, n]) => a + n, 0);
      return { log, total, replayed: re.replayedRecords };
    };
    const small = await readsAt(500);
    const big = await readsAt(30000);
    expect(small.replayed).toBe(20);
    expect(big.replayed).toBe(20);
    // The log region is 8 MiB here; the reader touches one 256 KiB window around a ~2 KiB tail.
    expect(small.log).toBeLessThanOrEqual(256 * 1024);
    expect(big.log).toBe(small.log);
    // Beyond the log: superblocks, bitmaps and the pages on the replayed keys' paths only.
    expect(big.total).toBeLessThan(small.total + 4 * 16384 * 20);
    expect(big.total).toBeLessThan(1024 * 1024);
  });
});

describe('ownership epoch', () => {
  it('bumpEpoch replays the old owner, then refuses its late log records', async () => {
    const space = await build(100);
    const old = await openVolume(space, { cachePages: 32, checkpointIntervalMs: 0 });
    const l1 = await old.apply({ puts: [[Buffer.from('old-acked'), Buffer.from('1')]], dels: [] });
    await old.durable(l1);
    // New owner takes over from the pool alone (the old one is fenced but still running).
    const image = new MemorySpace(SLICE, 0, 16);
    for (const s of space.slices) image.slices.push(Buffer.from(s));
    const neu = await openVolume(image, { cachePages: 32, checkpointIntervalMs: 0, bumpEpoch: true });
    expect(neu.epoch).toBe(old.epoch + 1n);
    expect(await neu.get(Buffer.from('old-acked'))).toEqual(Buffer.from('1'));
    await neu.close();
    // The old owner's late record, written where the log continues, must never be replayed.
    const late = await old.apply({ puts: [[Buffer.from('old-late'), Buffer.from('2')]], dels: [] });
    await old.durable(late);
    const { sb } = await readSuperblock(image);
    // Copy the old owner's log region (holding the late record) over the new owner's.
    const logStart = LOG_START_BLOCK * BLOCK_BYTES;
    space.slices[0]!.copy(image.slices[0]!, logStart, logStart, logStart + sb.logBlocks * BLOCK_BYTES);
    const again = await openVolume(image, { cachePages: 32, checkpointIntervalMs: 0 });
    expect(again.epoch).toBe(sb.epoch);
    expect(await again.get(Buffer.from('old-late'))).toBeUndefined();
    expect(await again.get(Buffer.from('old-acked'))).toEqual(Buffer.from('1'));
    await again.close();
  });
});

describe('limits and errors', () => {
  it('rejects oversized keys, values and transactions with a clear error, changing nothing', async () => {
    const space = await build(10);
    const vol = await openVolume(space, { cachePages: 32, checkpointIntervalMs: 0 });
    const lsn0 = vol.stats().lastLsn;
    await expect(vol.apply({ puts: [[Buffer.alloc(1025), Buffer.alloc(1)]], dels: [] })).rejects.toThrow(TxTooLargeError);
    await expect(vol.apply({ puts: [[Buffer.from('k'), Buffer.alloc(4097)]], dels: [] })).rejects.toThrow('value of 4097 bytes exceeds 4096');
    expect(vol.stats().lastLsn).toBe(lsn0);
    // The largest legal entries still split cleanly.
    for (let i = 0; i < 40; i++) await vol.apply({ puts: [[Buffer.alloc(1024, i), Buffer.alloc(4096, i)]], dels: [] });
    expect(await vol.get(Buffer.alloc(1024, 39))).toEqual(Buffer.alloc(4096, 39));
    expect(vol.stats().lastLsn).toBe(lsn0 + 40n);
    await vol.close();
    expect((await verifyVolume(space)).errors).toEqual([]);
  });

  it('grows the space slice by slice, then VolumeFullError at maxBytes; stats stay true', async () => {
    const space = new MemorySpace(SLICE, 1, 3);
    await formatVolume(space, { volumeId: 1n, maxBytes: 3 * SLICE });
    const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    const before = vol.stats();
    expect(before.totalBlocks).toBe(SLICE / BLOCK_BYTES);
    expect(before.maxBlocks).toBe((3 * SLICE) / BLOCK_BYTES);
    const got = await vol.allocate(1500);
    await vol.apply({ puts: [[Buffer.from('f'), Buffer.from('1')]], dels: [], allocated: got });
    expect(vol.stats().totalBlocks).toBe((2 * SLICE) / BLOCK_BYTES);
    expect(vol.stats().freeBlocks).toBe(before.freeBlocks - 1500);
    await expect(vol.allocate(3000)).rejects.toBeInstanceOf(VolumeFullError);
    vol.unreserve(await vol.allocate(10));
    await vol.close();
    const re = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    expect(re.stats().totalBlocks).toBe((2 * SLICE) / BLOCK_BYTES);
    await expect(re.apply({ puts: [], dels: [], freed: [{ block: 5, count: 1 }] })).rejects.toThrow('freed block 5 is not in use');
    await expect(re.apply({ puts: [], dels: [], allocated: [{ block: 1, count: 1 }] })).rejects.toThrow('allocated block 1 is already in use');
    await re.close();
    expect((await verifyVolume(space)).errors).toEqual([]);
  });

  it('freed blocks are not handed out again before the checkpoints that stop naming them', async () => {
    const space = new MemorySpace(SLICE, 1, 1);
    await formatVolume(space, { volumeId: 1n, maxBytes: SLICE });
    const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    const ext = await vol.allocate(8, 600);
    await vol.apply({ puts: [[Buffer.from('f'), Buffer.from('x')]], dels: [], allocated: ext });
    const free0 = vol.stats().freeBlocks;
    await vol.apply({ puts: [], dels: [Buffer.from('f')], freed: ext });
    const inExt = (es: Array<{ block: number; count: number }>): boolean =>
      es.some((a) => ext.some((e) => a.block < e.block + e.count && e.block < a.block + a.count));
    const probe = async (): Promise<boolean> => {
      const got = await vol.allocate(8, ext[0]!.block);
      vol.unreserve(got);
      return inExt(got);
    };
    expect(await probe()).toBe(false);
    await vol.checkpoint();
    expect(await probe()).toBe(false); // the previous superblock copy still names them
    await vol.checkpoint();
    expect(await probe()).toBe(true);
    expect(vol.stats().freeBlocks).toBeGreaterThanOrEqual(free0 + 8 - 16);
    await vol.close();
  });

  it('a closed or read-only volume refuses writes', async () => {
    const space = await build(10);
    const ro = await openVolume(space, { readOnly: true });
    await expect(ro.apply({ puts: [], dels: [] })).rejects.toBeInstanceOf(VolumeFailedError);
    await ro.close();
    const rw = await openVolume(space, { checkpointIntervalMs: 0 });
    await rw.close();
    await expect(rw.apply({ puts: [], dels: [] })).rejects.toThrow('volume is closed');
  });
});

describe('log wrap and back-pressure', () => {
  it('large transactions through a small log wrap around, wait for checkpoints, and all recover', async () => {
    const space = new CrashSpace(SLICE, 2, 4);
    await formatVolume(space, { volumeId: 2n, maxBytes: 4 * SLICE, logBytes: 256 * 1024 });
    const vol = await openVolume(space, { cachePages: 64, checkpointIntervalMs: 0 });
    let wraps = 0;
    let lastHead = vol.logHeadBytes;
    for (let i = 0; i < 40; i++) {
      const puts: Array<[Buffer, Buffer]> = [];
      for (let j = 0; j < 15; j++) puts.push([Buffer.from(`t${i}-${j}`), Buffer.alloc(4000, (i + j) & 255)]);
      await vol.durable(await vol.apply({ puts, dels: [] }));
      if (vol.logHeadBytes < lastHead) wraps++;
      lastHead = vol.logHeadBytes;
    }
    expect(wraps).toBeGreaterThanOrEqual(3);
    // Power cut with nothing unsynced lost that was acknowledged: everything must be there.
    const re = await openVolume(CrashSpace.fromImage(space.crash(seededRandom(1))), { cachePages: 64, checkpointIntervalMs: 0 });
    for (let i = 0; i < 40; i++)
      for (let j = 0; j < 15; j += 7) expect(await re.get(Buffer.from(`t${i}-${j}`))).toEqual(Buffer.alloc(4000, (i + j) & 255));
    await re.close();
    // A transaction larger than a quarter of the log is refused up front.
    await expect(vol.apply({ puts: Array.from({ length: 17 }, (_, j) => [Buffer.from(`big${j}`), Buffer.alloc(4096)] as [Buffer, Buffer]), dels: [] })).rejects.toThrow(
      /exceeds a quarter of the log/,
    );
    await vol.close();
  });
});

describe('near full', () => {
  it('refuses growth of metadata past the reserve but lets deletes through', async () => {
    const space = new MemorySpace(SLICE, 1, 1);
    await formatVolume(space, { volumeId: 1n, maxBytes: SLICE });
    const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    // Fill the data space until allocate refuses.
    const taken: Array<{ block: number; count: number }> = [];
    for (;;) {
      const got = await vol.allocate(16).catch((e: unknown) => e);
      if (got instanceof VolumeFullError) break;
      taken.push(...(got as typeof taken));
    }
    await vol.apply({ puts: [[Buffer.from('data'), Buffer.from('x')]], dels: [], allocated: taken });
    // Then metadata: creations are refused before the checkpoints could run out of pages.
    let refused: unknown;
    for (let i = 0; i < 5000 && !refused; i++)
      await vol.apply({ puts: [[Buffer.from(`n${i}`), Buffer.alloc(3000)]], dels: [] }).catch((e: unknown) => (refused = e));
    expect(refused).toBeInstanceOf(VolumeFullError);
    await vol.checkpoint();
    // Deleting still works and gives the space back.
    await vol.apply({ puts: [], dels: [Buffer.from('data')], freed: taken });
    await vol.checkpoint();
    await vol.checkpoint();
    expect(vol.failed).toBeUndefined();
    await vol.apply({ puts: [[Buffer.from('again'), Buffer.from('y')]], dels: [] });
    await vol.close();
    expect((await verifyVolume(space)).errors).toEqual([]);
  });
});
