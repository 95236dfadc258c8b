// Goal: a volume's size limit can be raised while it is open (online filesystem growth): the
// allocator and statistics see it at once, it survives a clean reopen and a crash after the
// raise resolved, and it is never lowered.
// Method: fill a volume on an in-memory space up to its limit, raise the limit, allocate past the
// old limit, then reopen (cleanly, and from a crash copy) without passing a limit.
import { describe, expect, it } from 'vitest';
import { BLOCK_BYTES } from './layout';
import { formatVolume, openVolume, readSuperblock } from './meta-volume';
import { CrashSpace } from './testing/crash-space';
import { MemorySpace } from './testing/memory-space';
import { verifyVolume } from './verify';
import { VolumeFullError } from './volume';

const SLICE = 4 * 1024 * 1024;

describe('raising the size limit online', () => {
  it('allocates past the old limit at once and keeps the new one across a reopen', async () => {
    const space = new MemorySpace(SLICE, 1, 8);
    await formatVolume(space, { volumeId: 1n, maxBytes: 2 * SLICE });
    const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    await expect(vol.allocate(2500)).rejects.toBeInstanceOf(VolumeFullError);
    const free0 = vol.stats().freeBlocks;
    await vol.raiseMaxBytes(4 * SLICE);
    expect(vol.stats().maxBlocks).toBe((4 * SLICE) / BLOCK_BYTES);
    expect(vol.stats().freeBlocks).toBe(free0 + (2 * SLICE) / BLOCK_BYTES);
    const got = await vol.allocate(2500);
    await vol.apply({ puts: [[Buffer.from('k'), Buffer.from('v')]], dels: [], allocated: got });
    expect(space.sizeBytes).toBeGreaterThan(2 * SLICE);
    await vol.raiseMaxBytes(SLICE); // lower: ignored
    expect(vol.stats().maxBlocks).toBe((4 * SLICE) / BLOCK_BYTES);
    await vol.close();
    expect((await readSuperblock(space)).sb.maxBytes).toBe(4 * SLICE);
    const re = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    expect(re.stats().maxBlocks).toBe((4 * SLICE) / BLOCK_BYTES);
    await re.close();
    expect((await verifyVolume(space)).errors).toEqual([]);
  });

  it('is durable once the raise resolves, even with a checkpoint in flight', async () => {
    const space = new CrashSpace(SLICE, 1);
    await formatVolume(space, { volumeId: 2n, maxBytes: 2 * SLICE });
    const vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    await vol.apply({ puts: [[Buffer.from('a'), Buffer.from('1')]], dels: [] });
    const running = vol.checkpoint();
    await vol.raiseMaxBytes(6 * SLICE);
    await running;
    const image = space.crashWith(() => 'drop');
    const re = await openVolume(image, { cachePages: 16, checkpointIntervalMs: 0 });
    expect(re.stats().maxBlocks).toBe((6 * SLICE) / BLOCK_BYTES);
    await re.close();
  });
});
