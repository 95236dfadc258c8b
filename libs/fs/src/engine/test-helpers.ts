/**
 * Shared setup for engine tests: a formatted MemoryVolume and an open engine with a
 * deterministic clock (one nanosecond-distinct tick per call, so ctime changes are visible).
 */
import type { FileSystem, Timespec } from '../api';
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
