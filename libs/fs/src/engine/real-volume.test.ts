// Goal: the engine keeps its promises on the real metadata volume: acknowledged operations
// survive a power cut at any point, and fsck (with the volume's own verify) is clean afterwards.
// Method: run a concurrent workload on a MetaVolume over a crash-simulating space, cut the power
// after a seeded amount of progress (each unsynced write kept, dropped or torn), recover, and
// check every acknowledged directory and committed file, then run fsck with exact accounting.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FileRef, StableHow } from '../api';
import { checkFileSystem } from '../fsck/check';
import { formatVolume, openVolume } from '../meta/meta-volume';
import { CrashSpace, seededBytes, seededRandom } from '../meta/testing/crash-space';
import { verifyVolume } from '../meta/verify';
import { formatFileSystem, openFileSystem } from './format';
import { owner, tickingClock } from './test-helpers';

const SLICE = 2 * 1024 * 1024;
const ref = (a: { ino: bigint; generation: number }): FileRef => ({ ino: a.ino, generation: a.generation });

async function fresh(seed: number) {
  const space = new CrashSpace(SLICE, 1);
  await formatVolume(space, { volumeId: 9n, maxBytes: 8 * SLICE, logBytes: 512 * 1024, random: seededBytes(seed) });
  const volume = await openVolume(space, { cachePages: 64, checkpointIntervalMs: 0, random: seededBytes(seed + 1) });
  const clock = tickingClock();
  await formatFileSystem(volume, { fsid: 9n, clock });
  const fs = await openFileSystem(volume, { fsid: 9n, clock, random: seededBytes(seed + 2) });
  return { space, volume, fs, clock };
}

describe('engine on the real metadata volume', () => {
  it('passes the basic semantics and fsck with exact space accounting', async () => {
    const { space, volume, fs } = await fresh(1);
    const d = await fs.mkdir(fs.root, 'd', {}, owner);
    const f = await fs.create(ref(d.attr), 'f', { how: 'unchecked', attrs: {} }, owner);
    await fs.write(ref(f.attr), 0n, Buffer.alloc(300_000, 5), StableHow.UNSTABLE);
    await fs.write(ref(f.attr), 4096n * 1000n, Buffer.alloc(10, 6), StableHow.FILE_SYNC);
    await fs.commit(ref(f.attr), 0n, 0);
    await fs.setattr(ref(f.attr), { size: 100_000n });
    await fs.link(ref(f.attr), fs.root, 'g');
    expect((await fs.read(ref(f.attr), 99_990n, 100)).data).toEqual(Buffer.alloc(10, 5));
    await fs.close();
    await volume.close();
    const report = await verifyVolume(space);
    const v2 = await openVolume(space, { readOnly: true });
    const rep = await checkFileSystem(v2, { volumeReport: report });
    expect(rep.problems).toEqual([]);
    expect(rep.counts.dataBlocks).toBe(25);
  });

  it('keeps every acknowledged operation across a power cut', async () => {
    let checkedAcks = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 0, max: 40 }), async (seed, ticks) => {
        const { space, fs, clock } = await fresh(seed);
        const acked: string[] = [];
        const committed: string[] = [];
        const work: Promise<unknown>[] = [];
        for (let i = 0; i < 20; i++) {
          work.push(
            (async () => {
              await fs.mkdir(fs.root, `d${i}`, {}, owner);
              acked.push(`d${i}`);
              const c = await fs.create(fs.root, `f${i}`, { how: 'unchecked', attrs: {} }, owner);
              await fs.write(ref(c.attr), 0n, Buffer.alloc(9000, i + 1), StableHow.UNSTABLE);
              await fs.commit(ref(c.attr), 0n, 0);
              committed.push(`f${i}`);
            })().catch(() => undefined),
          );
        }
        for (let t = 0; t < ticks; t++) await new Promise((r) => setImmediate(r));
        const image = space.crash(seededRandom(seed));
        const ackAtCut = [...acked];
        const commitAtCut = [...committed];
        checkedAcks += ackAtCut.length + commitAtCut.length;
        await Promise.allSettled(work);

        const report = await verifyVolume(CrashSpace.fromImage(image));
        const v2 = await openVolume(CrashSpace.fromImage(image), { checkpointIntervalMs: 0, random: seededBytes(seed + 3) });
        const rep = await checkFileSystem(v2, { volumeReport: report });
        expect(rep.problems).toEqual([]);
        const fs2 = await openFileSystem(v2, { fsid: 9n, clock, random: seededBytes(seed + 4) });
        for (const d of ackAtCut) expect((await fs2.lookup(fs2.root, d)).attr.type).toBe(2);
        for (const name of commitAtCut) {
          const l = await fs2.lookup(fs2.root, name);
          const i = Number(name.slice(1));
          const data = (await fs2.read(ref(l.attr), 0n, 9000)).data;
          expect(data.equals(Buffer.alloc(9000, i + 1))).toBe(true);
        }
        await v2.close();
      }),
      { numRuns: 25 },
    );
    // The cuts must land mid-workload, not only before the first acknowledgement.
    expect(checkedAcks).toBeGreaterThan(0);
  });
});
