// Goal: with format 2, a log batch naming freshly written data is written without a data sync
// first, yet no acknowledged transaction is lost and no record whose data is bad is replayed;
// recovery reads a bounded amount of file data. Method: a FILE_SYNC-like workload (write data,
// apply, durable; some group-committed) on a crash-simulating space, cut at every sync and
// every durable (log) write, while in flight and once durable (the data sync of its batch runs
// alongside, so it may not have taken effect yet), with data and log writes dropped, torn or
// kept independently, and at seeded write points; each image is recovered and compared with
// the reference state and the data every key names.
import { describe, expect, it } from 'vitest';
import { LOG_START_BLOCK } from './layout';
import { formatVolume, openVolume, type MetaVolume } from './meta-volume';
import { CrashSpace, seededRandom } from './testing/crash-space';
import type { MemorySpace } from './testing/memory-space';
import { verifyVolume } from './verify';
import type { Extent } from './volume';

const SLICE = 2 * 1024 * 1024;
const LOG_BYTES = 256 * 1024;
const LAST = Buffer.from('~last');

async function fresh(): Promise<CrashSpace> {
  const space = new CrashSpace(SLICE, 2, 6);
  await formatVolume(space, { volumeId: 5n, maxBytes: 6 * SLICE, logBytes: LOG_BYTES });
  return space;
}

const inLog = (pos: number): boolean => pos >= LOG_START_BLOCK * 4096 && pos < LOG_START_BLOCK * 4096 + LOG_BYTES;

/** Per LSN: the keys it puts (value = fill byte of its data, or -1) and deletes. */
type Effects = Map<bigint, { puts: Array<[string, number]>; dels: string[] }>;

/** Write data, apply a transaction naming it, maybe wait for durable; some in groups of three. */
async function workload(space: CrashSpace, seed: number, steps: number, acked: Set<bigint>, dataVerifyBytes?: number): Promise<Effects> {
  const rnd = seededRandom(seed);
  const effects: Effects = new Map();
  const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0, dataVerifyBytes });
  const live = new Map<string, Extent[]>();
  // Applies take LSNs in call order (a slow one holds the later ones back), so count them here.
  let nextLsn = vol.stats().lastLsn + 1n;
  const one = async (i: number): Promise<bigint> => {
    const puts: Array<[Buffer, Buffer]> = [];
    const dels: Buffer[] = [];
    const freed: Extent[] = [];
    const ext = await vol.allocate(1 + Math.floor(rnd() * 3), Math.floor(rnd() * 2000));
    for (const e of ext) await vol.writeBlocks(e.block, Buffer.alloc(e.count * 4096, i & 255));
    const key = `d${i}`;
    live.set(key, ext);
    puts.push([Buffer.from(key), Buffer.from(JSON.stringify(ext))]);
    if (rnd() < 0.3 && live.size > 4) {
      const old = [...live.keys()][Math.floor(rnd() * (live.size - 1))]!;
      freed.push(...live.get(old)!);
      live.delete(old);
      dels.push(Buffer.from(old));
    }
    const lsn = nextLsn++;
    const lsnBuf = Buffer.alloc(8);
    lsnBuf.writeBigUInt64BE(lsn);
    puts.push([LAST, lsnBuf]);
    effects.set(lsn, { puts: [[key, i & 255]], dels: dels.map((k) => k.toString()) });
    expect(await vol.apply({ puts, dels, allocated: ext, freed })).toBe(lsn);
    return lsn;
  };
  let i = 0;
  while (i < steps) {
    if (rnd() < 0.25) {
      // Three writers whose transactions share one log batch.
      const lsns = await Promise.all([one(i), one(i + 1), one(i + 2)]);
      i += 3;
      await Promise.all(lsns.map((l) => vol.durable(l).then(() => void acked.add(l))));
    } else {
      const l = await one(i++);
      await vol.durable(l);
      acked.add(l);
    }
    if (rnd() < 0.04) await vol.checkpoint();
  }
  await vol.close();
  return effects;
}

/** Recover `image`; the state must be a prefix of the effects covering every acknowledged LSN. */
async function check(image: MemorySpace, effects: Effects, ackedAtCrash: bigint[], label: string): Promise<MetaVolume> {
  const space = CrashSpace.fromImage(image);
  const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
  const last = await vol.get(LAST);
  const m = last ? last.readBigUInt64BE(0) : 0n;
  const maxAcked = ackedAtCrash.reduce((a, b) => (b > a ? b : a), 0n);
  expect(m >= maxAcked, `${label}: recovered up to ${m}, acknowledged ${maxAcked}`).toBe(true);
  const model = new Map<string, number>();
  for (let l = 1n; l <= m; l++) {
    const e = effects.get(l)!;
    for (const k of e.dels) model.delete(k);
    for (const [k, v] of e.puts) model.set(k, v);
  }
  const got = new Map<string, Extent[]>();
  await vol.scan(Buffer.from('d'), Buffer.from('e'), (k, v) => (got.set(k.toString(), JSON.parse(v.toString()) as Extent[]), true));
  expect([...got.keys()].sort(), `${label}: keys after prefix ${m}`).toEqual([...model.keys()].sort());
  // No replayed record names data that is not what was written.
  for (const [k, exts] of got)
    for (const e of exts) {
      const b = Buffer.alloc(e.count * 4096);
      await vol.readBlocks(e.block, b);
      expect(b.every((x) => x === model.get(k)), `${label}: data of ${k} at block ${e.block}`).toBe(true);
    }
  await vol.close();
  expect((await verifyVolume(space)).errors, label).toEqual([]);
  return vol;
}

type Fate = 'keep' | 'drop' | 'tear';
const FATES: Array<[data: Fate, log: Fate]> = [
  ['drop', 'keep'],
  ['tear', 'keep'],
  ['keep', 'drop'],
  ['keep', 'tear'],
  ['keep', 'keep'],
  ['drop', 'drop'],
];

describe('log records with data checksums (format 2)', () => {
  it('loses nothing acknowledged and replays no record with bad data, data and log cut independently', async () => {
    const seed = 4321;
    const steps = 90;
    const dry = await fresh();
    const base = { syncs: dry.syncCount, durables: dry.durableCount, writes: dry.writeCount };
    await workload(dry, seed, steps, new Set());
    const syncs = dry.syncCount - base.syncs;
    const durables = dry.durableCount - base.durables;
    const writes = dry.writeCount - base.writes;
    let mismatches = 0;
    let cases = 0;
    type Kind = 'sync' | 'durable' | 'durable-done' | 'write';
    const run = async (kind: Kind, n: number, fates: Array<[Fate, Fate]>): Promise<void> => {
      const space = await fresh();
      const acked = new Set<bigint>();
      const images: Array<{ image: MemorySpace; label: string }> = [];
      let ackedAtCrash: bigint[] | undefined;
      const take = (at: Kind, k: number): void => {
        // After a durable write, the acknowledged set is read at the next I/O event (see
        // crash.test.ts): acknowledgments given before it rest on what the image holds.
        if (images.length > 0 && !ackedAtCrash) ackedAtCrash = [...acked];
        if (at !== kind || k !== n || images.length > 0) return;
        if (kind !== 'durable-done') ackedAtCrash = [...acked];
        for (const [d, l] of fates) {
          const label = `${kind} ${n}: data ${d}, log ${l}`;
          images.push({
            label,
            image: space.crashWith((pos, bytes) => {
              const f = inLog(pos) ? l : d;
              return f === 'tear' ? Math.floor(bytes / 1024) * 512 : f;
            }),
          });
        }
      };
      space.onSync = (k) => take('sync', k);
      space.onWrite = (k) => take('write', k);
      space.onDurable = (k, done) => take(done ? 'durable-done' : 'durable', k);
      const effects = await workload(space, seed, steps, acked);
      expect(images.length, `crash point ${kind} ${n} reached`).toBe(fates.length);
      for (const { image, label } of images) {
        const vol = await check(image, effects, ackedAtCrash ?? [...acked], label);
        cases++;
        if (vol.replayDataMismatchLsn !== undefined) mismatches++;
      }
    };
    for (let n = 1; n <= syncs; n++) await run('sync', base.syncs + n, FATES);
    for (let n = 1; n <= durables; n++) {
      // In flight: the log write cut, with the data kept or not. Once durable, only the data's
      // fate is left to choose (its sync runs alongside and may not have taken effect).
      await run('durable', base.durables + n, [FATES[0]!, FATES[3]!, ['drop', 'tear']]);
      await run('durable-done', base.durables + n, FATES.slice(0, 2).concat([FATES[4]!]));
    }
    const rnd = seededRandom(7);
    for (let k = 0; k < 40; k++) await run('write', base.writes + 1 + Math.floor(rnd() * writes), FATES.slice(0, 2));
    expect(cases).toBeGreaterThan(300);
    // The verification path was taken: logged records whose data was lost ended the log.
    expect(mismatches).toBeGreaterThan(20);
  }, 300_000);

  it('without checksums (dataVerifyBytes 0) data is synced before the durable log write: a cut at every durable write loses nothing', async () => {
    const seed = 99;
    const steps = 40;
    const dry = await fresh();
    const d0 = dry.durableCount;
    await workload(dry, seed, steps, new Set(), 0);
    const durables = dry.durableCount - d0;
    expect(durables).toBeGreaterThan(steps / 2);
    for (let n = d0 + 1; n <= d0 + durables; n++) {
      for (const done of [false, true]) {
        const space = await fresh();
        const acked = new Set<bigint>();
        let image: MemorySpace | undefined;
        let ackedAtCrash: bigint[] | undefined;
        const event = (): void => {
          if (image && !ackedAtCrash) ackedAtCrash = [...acked];
        };
        space.onSync = event;
        space.onWrite = event;
        space.onDurable = (k, isDone) => {
          event();
          if (k !== n || isDone !== done || image) return;
          // Every volatile write lost: the data of a record being written must already be durable.
          image = space.crashWith(() => 'drop');
          if (!done) ackedAtCrash = [...acked];
        };
        const effects = await workload(space, seed, steps, acked, 0);
        expect(image, `durable write ${n} reached`).toBeDefined();
        await check(image!, effects, ackedAtCrash ?? [...acked], `no checksums, durable ${n}${done ? ' done' : ''}`);
      }
    }
  }, 120_000);

  it('a small data write plus its transaction is one sync; an in-place rewrite waits for checkpoints', async () => {
    const space = await fresh();
    const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    const [e] = await vol.allocate(1);
    await vol.writeBlocks(e!.block, Buffer.alloc(4096, 7));
    const s0 = space.syncCount;
    const lsn = await vol.apply({ puts: [[Buffer.from('f'), Buffer.from('x')]], dels: [], allocated: [e!] });
    await vol.durable(lsn);
    expect(space.syncCount - s0).toBe(1);
    // The acknowledged record carries the block's checksum. Rewriting the block in place (not
    // what the engine does, but the contract allows it) must not make that record look torn.
    await vol.writeBlocks(e!.block, Buffer.alloc(4096, 9));
    expect(vol.stats().checkpointLsn).toBeGreaterThanOrEqual(lsn);
    for (const fate of ['drop', 2048, 'keep'] as const) {
      const image = space.crashWith((pos) => (pos === e!.block * 4096 ? fate : 'drop'));
      const back = await openVolume(CrashSpace.fromImage(image), { readOnly: true });
      expect(await back.get(Buffer.from('f')), `rewrite ${fate}`).toEqual(Buffer.from('x'));
      await back.close();
    }
    await vol.close();
  });

  it('recovery reads at most dataVerifyBytes of file data, however much was written', async () => {
    const space = await fresh();
    const limit = 256 * 1024;
    const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0, dataVerifyBytes: limit });
    const s0 = space.syncCount;
    const n = 300; // 1.2 MiB of data, each write acknowledged on its own
    for (let i = 0; i < n; i++) {
      const ext = await vol.allocate(1);
      await vol.writeBlocks(ext[0]!.block, Buffer.alloc(4096, i & 255));
      await vol.durable(await vol.apply({ puts: [[Buffer.from(`d${String(i).padStart(4, '0')}`), Buffer.from(JSON.stringify(ext))]], dels: [], allocated: ext }));
    }
    // Most batches went out with checksums and one sync (the rest: checkpoints, fallbacks).
    expect(vol.checksumBatches).toBeGreaterThan(n * 0.7);
    expect(space.syncCount - s0).toBeLessThan(n * 1.5);
    const image = space.crashWith(() => 'drop');
    const back = await openVolume(CrashSpace.fromImage(image), { readOnly: true });
    expect(back.replayDataBytesRead).toBeGreaterThan(0);
    expect(back.replayDataBytesRead).toBeLessThanOrEqual(limit);
    let count = 0;
    await back.scan(Buffer.from('d'), Buffer.from('e'), () => (count++, true));
    expect(count).toBe(n);
    await back.close();
    await vol.close();
  });
});
