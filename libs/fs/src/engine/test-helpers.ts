/**
 * Shared setup for engine tests: a formatted MemoryVolume and an open engine with a
 * deterministic clock (one nanosecond-distinct tick per call, so ctime changes are visible).
 */
import type { FileRef, FileSystem, Timespec } from '../api';
import { MemoryVolume, type MemoryVolumeOptions } from '../testing/memory-volume';
import type { EngineLogger, ReadaheadOutcome } from './file-system';
import { formatFileSystem, openFileSystem } from './format';

export function tickingClock(startSec = 1_700_000_000): () => Timespec {
  let n = 0;
  return () => {
    n++;
    return { sec: startSec + Math.floor(n / 1000), nsec: (n % 1000) * 1000 };
  };
}

export const owner = { uid: 1000, gid: 1000 };

export async function makeFs(
  vopts: MemoryVolumeOptions = {},
  eopts: { writeBufferBytes?: number; logger?: EngineLogger; readaheadStreams?: number; onReadahead?: (outcome: ReadaheadOutcome) => void; readBufferBytes?: number } = {},
): Promise<{ fs: FileSystem; volume: MemoryVolume; clock: () => Timespec }> {
  const volume = new MemoryVolume(vopts);
  const clock = tickingClock();
  await formatFileSystem(volume, { fsid: 7n, clock });
  const fs = await openFileSystem(volume, { fsid: 7n, clock, random: (n) => Buffer.alloc(n, 1), ...eopts });
  return { fs, volume, clock };
}

export async function reopen(volume: MemoryVolume, clock: () => Timespec): Promise<FileSystem> {
  return openFileSystem(volume, { fsid: 7n, clock, random: (n) => Buffer.alloc(n, 1) });
}

/** Resolves after `n` turns of the event loop. */
export const turns = (n: number): Promise<void> => new Promise((resolve) => (n <= 0 ? resolve() : setImmediate(() => void turns(n - 1).then(resolve))));

/** A deterministic pseudo-random `next(n)` in [0, n) from a fast-check seed (an LCG). */
export function seededRandom(seed: number): (n: number) => number {
  let rnd = seed;
  return (n) => {
    rnd = (Math.imul(rnd, 1103515245) + 12345) & 0x7fffffff;
    return rnd % n;
  };
}

/** Block reads that take `before` event-loop turns before they copy and `after` turns after. */
export function slowReads(volume: MemoryVolume, delays: () => [number, number]): { calls: () => number } {
  const orig = volume.readBlocks.bind(volume);
  let calls = 0;
  volume.readBlocks = async (block: number, buf: Buffer) => {
    calls++;
    const [before, after] = delays();
    await turns(before);
    await orig(block, buf);
    await turns(after);
  };
  return { calls: () => calls };
}

/** A new empty regular file (mode 0644) in the root directory. */
export async function newFile(fs: FileSystem, name: string): Promise<FileRef> {
  const { attr } = await fs.create(fs.root, name, { how: 'unchecked', attrs: { mode: 0o644 } }, owner);
  return { ino: attr.ino, generation: attr.generation };
}
