// Goal: a power cut at any point loses no acknowledged transaction, shows no half-applied one,
// and leaves the allocator agreeing with the tree. Method: a deterministic workload (puts,
// dels, data block allocation and frees, group-committed durables, checkpoints) runs on a
// crash-simulating space; at every sync boundary, at every durable (log) write while it is in
// flight, right after each durable write with every unsynced write dropped, and at seeded write
// points we take the crashed image (each unsynced write kept, dropped or torn), reopen it and
// compare the recovered map with the reference state after some prefix of transactions
// covering every acknowledged one, then account for every used block.
import { describe, expect, it } from 'vitest';
import { formatVolume, openVolume, type MetaVolume } from './meta-volume';
import { CrashSpace, InjectedIoError, seededRandom } from './testing/crash-space';
import type { MemorySpace } from './testing/memory-space';
import { mergeExtents, verifyVolume } from './verify';
import { VolumeFailedError, type Extent } from './volume';

const SLICE = 2 * 1024 * 1024;
const LAST = Buffer.from('~last');

interface TxRecord {
  puts: Array<[string, string]>;
  dels: string[];
}

/** Deterministic workload; `hook` is installed once the volume exists. Returns per-LSN effects. */
async function workload(
  space: CrashSpace,
  seed: number,
  txCount: number,
  acked: Set<bigint>,
): Promise<{ effects: Map<bigint, TxRecord>; failed: boolean }> {
  const rnd = seededRandom(seed);
  const effects = new Map<bigint, TxRecord>();
  const vol: MetaVolume = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0, logger: undefined });
  const live = new Map<string, Extent[]>(); // data keys and their extents
  const waits: Array<Promise<void>> = [];
  try {
    for (let i = 0; i < txCount; i++) {
      const puts: Array<[Buffer, Buffer]> = [];
      const dels: Buffer[] = [];
      const allocated: Extent[] = [];
      const freed: Extent[] = [];
      const n = 1 + Math.floor(rnd() * 4);
      for (let j = 0; j < n; j++) {
        const k = `k${Math.floor(rnd() * 400)}`;
        if (rnd() < 0.25) dels.push(Buffer.from(k));
        else puts.push([Buffer.from(k), Buffer.alloc(Math.floor(rnd() * 1500), i & 255)]);
      }
      if (rnd() < 0.3) {
        const ext = await vol.allocate(1 + Math.floor(rnd() * 6), Math.floor(rnd() * 2000));
        try {
          for (const e of ext) await vol.writeBlocks(e.block, Buffer.alloc(e.count * 4096, i & 255));
          allocated.push(...ext);
          const key = `d${i}`;
          puts.push([Buffer.from(key), Buffer.from(JSON.stringify(ext))]);
          live.set(key, ext);
        } catch (e) {
          // A failed data write is the engine's to handle: it gives the blocks back.
          if (!(e instanceof InjectedIoError)) throw e;
          vol.unreserve(ext);
        }
      } else if (rnd() < 0.3 && live.size > 0) {
        const key = [...live.keys()][Math.floor(rnd() * live.size)]!;
        freed.push(...live.get(key)!);
        live.delete(key);
        dels.push(Buffer.from(key));
      }
      // A key both put and deleted in one transaction ends up put (dels go first): keep it simple.
      const putKeys = new Set(puts.map(([k]) => k.toString()));
      const dels2 = dels.filter((k) => !putKeys.has(k.toString()));
      const lsnBuf = Buffer.alloc(8);
      puts.push([LAST, lsnBuf]);
      const expectedLsn = vol.stats().lastLsn + 1n;
      lsnBuf.writeBigUInt64BE(expectedLsn);
      effects.set(expectedLsn, { puts: puts.map(([k, v]) => [k.toString(), v.toString('hex')]), dels: dels2.map((k) => k.toString()) });
      const lsn = await vol.apply({ puts, dels: dels2, allocated, freed });
      expect(lsn).toBe(expectedLsn);
      if (rnd() < 0.4) waits.push(vol.durable(lsn).then(() => void acked.add(lsn)));
      if (rnd() < 0.03) await vol.checkpoint();
      if (rnd() < 0.1) await Promise.all(waits.splice(0));
    }
    await Promise.all(waits);
    await vol.close();
  } catch (e) {
    if (!(e instanceof VolumeFailedError)) throw e;
    await Promise.allSettled(waits);
    // Once failed, the volume refuses every later apply.
    await expect(vol.apply({ puts: [[Buffer.from('x'), Buffer.from('y')]], dels: [] })).rejects.toBeInstanceOf(VolumeFailedError);
    return { effects, failed: true };
  }
  return { effects, failed: false };
}

/** Recover an image and check it against the effects and the acknowledged set. */
async function check(image: MemorySpace, effects: Map<bigint, TxRecord>, ackedAtCrash: bigint[], label: string): Promise<void> {
  const space = CrashSpace.fromImage(image);
  const pre = await verifyVolume(CrashSpace.fromImage(image));
  expect(pre.errors, `${label}: the crashed image`).toEqual([]);
  const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
  const last = await vol.get(LAST);
  const m = last ? last.readBigUInt64BE(0) : 0n;
  const maxAcked = ackedAtCrash.reduce((a, b) => (b > a ? b : a), 0n);
  expect(m >= maxAcked, `${label}: recovered up to ${m}, acknowledged ${maxAcked}`).toBe(true);
  const model = new Map<string, string>();
  for (let l = 1n; l <= m; l++) {
    const e = effects.get(l);
    if (!e) break;
    for (const k of e.dels) model.delete(k);
    for (const [k, v] of e.puts) model.set(k, v);
  }
  const got = new Map<string, string>();
  await vol.scan(Buffer.alloc(0), undefined, (k, v) => (got.set(k.toString(), v.toString('hex')), true));
  expect(got, `${label}: state after prefix ${m}`).toEqual(model);
  // The data blocks still named by the tree must hold their data.
  const data: Extent[] = [];
  for (const [k, v] of got) if (k.startsWith('d')) data.push(...(JSON.parse(Buffer.from(v, 'hex').toString()) as Extent[]));
  for (const e of data) {
    const b = Buffer.alloc(e.count * 4096);
    await vol.readBlocks(e.block, b);
    const i = Number(k2i(got, e));
    expect(b.every((x) => x === (i & 255)), `${label}: data of extent ${e.block}`).toBe(true);
  }
  await vol.close();
  // Allocator agrees with the tree: used = metadata + data + pending-free, no overlaps.
  const r = await verifyVolume(space);
  expect(r.errors, label).toEqual([]);
  const dataM = mergeExtents(data);
  const dataBlocks = data.reduce((a, e) => a + e.count, 0);
  expect(dataM.reduce((a, e) => a + e.count, 0), `${label}: data extents overlap`).toBe(dataBlocks);
  const union = mergeExtents([...r.metaExtents, ...dataM, ...r.pendingFreeExtents]);
  const parts = [...r.metaExtents, ...dataM, ...r.pendingFreeExtents].reduce((a, e) => a + e.count, 0);
  expect(union.reduce((a, e) => a + e.count, 0), `${label}: metadata, data and pending-free overlap`).toBe(parts);
  expect(r.usedExtents, `${label}: used blocks = metadata + data + pending`).toEqual(union);
}

function k2i(got: Map<string, string>, e: Extent): number {
  for (const [k, v] of got) if (k.startsWith('d') && Buffer.from(v, 'hex').toString().includes(`"block":${e.block},`)) return Number(k.slice(1));
  return -1;
}

async function fresh(): Promise<CrashSpace> {
  const space = new CrashSpace(SLICE, 2, 6);
  await formatVolume(space, { volumeId: 3n, maxBytes: 6 * SLICE, logBytes: 256 * 1024 });
  return space;
}

describe('crash recovery', () => {
  it('survives a power cut at every sync and durable-write boundary and at seeded write points', async () => {
    const seed = 1234;
    const txCount = 160;
    // A dry run counts the syncs, durable writes and writes of the workload.
    const dry = await fresh();
    const base = { syncs: dry.syncCount, durables: dry.durableCount, writes: dry.writeCount };
    expect((await workload(dry, seed, txCount, new Set())).failed).toBe(false);
    const syncs = dry.syncCount - base.syncs;
    const durables = dry.durableCount - base.durables;
    const writes = dry.writeCount - base.writes;
    // Every log batch is one durable write: most acknowledgments rest on them, not on syncs.
    expect(durables).toBeGreaterThan(25);
    expect(syncs).toBeGreaterThan(10);
    const rnd = seededRandom(99);
    type Kind = 'sync' | 'durable' | 'durable-done' | 'write';
    const points: Array<{ kind: Kind; n: number }> = [];
    for (let n = 1; n <= syncs; n++) points.push({ kind: 'sync', n: base.syncs + n });
    for (let n = 1; n <= durables; n++) points.push({ kind: 'durable', n: base.durables + n }, { kind: 'durable-done', n: base.durables + n });
    for (let k = 0; k < 60; k++) points.push({ kind: 'write', n: base.writes + 1 + Math.floor(rnd() * writes) });
    for (const p of points) {
      const space = await fresh();
      const acked = new Set<bigint>();
      let image: MemorySpace | undefined;
      let ackedAtCrash: bigint[] | undefined;
      const event = (kind: Kind, n: number): void => {
        if (image && !ackedAtCrash) ackedAtCrash = [...acked];
        if (kind !== p.kind || n !== p.n || image) return;
        if (kind === 'durable-done') {
          // Right after a durable write, everything still volatile is lost. The acknowledged
          // set is read at the next I/O event: an acknowledgment given before any further I/O
          // (a sync or durable write takes effect only after its event) rests on the image.
          image = space.crashWith(() => 'drop');
        } else {
          image = space.crash(seededRandom(p.n * 7 + kind.length));
          ackedAtCrash = [...acked];
        }
      };
      space.onSync = (n) => event('sync', n);
      space.onWrite = (n) => event('write', n);
      space.onDurable = (n, done) => event(done ? 'durable-done' : 'durable', n);
      const { effects } = await workload(space, seed, txCount, acked);
      expect(image, `crash point ${p.kind} ${p.n} reached`).toBeDefined();
      await check(image!, effects, ackedAtCrash ?? [...acked], `${p.kind} ${p.n}`);
    }
  }, 300_000);

  it('an EIO on a log or checkpoint write fails the volume; the durable image still recovers', async () => {
    let failures = 0;
    for (const kind of ['write', 'sync', 'durable'] as const) {
      // About 30 durable writes and 30 syncs in this workload (the open takes one of each), many
      // more writes.
      const at = kind === 'write' ? [3, 10, 25, 40, 60, 90, 120, 160] : [2, 4, 7, 10, 14, 19, 24, 28];
      for (const n of at) {
        const space = await fresh();
        const acked = new Set<bigint>();
        if (kind === 'write') space.failWriteAt = space.writeCount + n;
        else if (kind === 'sync') space.failSyncAt = space.syncCount + n;
        else space.failDurableAt = space.durableCount + n;
        const { effects, failed } = await workload(space, 77, 200, acked);
        if (failed) failures++;
        await check(space.crash(seededRandom(n)), effects, [...acked], `${kind} EIO #${n}`);
      }
    }
    // Most points hit a log or checkpoint write (data writes fail alone, without failing it).
    expect(failures).toBeGreaterThanOrEqual(15);
  }, 120_000);

  it('a failed volume refuses every later apply', async () => {
    const space = await fresh();
    const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    const lsn = await vol.apply({ puts: [[Buffer.from('a'), Buffer.from('1')]], dels: [] });
    space.failDurableAt = space.durableCount + 1; // the log write
    await expect(vol.durable(lsn)).rejects.toBeInstanceOf(VolumeFailedError);
    await expect(vol.apply({ puts: [[Buffer.from('b'), Buffer.from('2')]], dels: [] })).rejects.toBeInstanceOf(VolumeFailedError);
    await expect(vol.checkpoint()).rejects.toBeInstanceOf(VolumeFailedError);
    expect(await vol.get(Buffer.from('a'))).toEqual(Buffer.from('1'));
  });
});
