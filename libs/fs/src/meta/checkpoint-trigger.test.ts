// Goal: the log tail that recovery must replay stays bounded by `checkpointLogBytes`, however
// much work the volume has done since it was opened, so recovery time does not grow with it.
// Method: apply many durable transactions, copy the space as a crash would leave it (every
// write here was synced), reopen the copy and count the records replayed.
import { describe, expect, it } from 'vitest';
import { formatVolume, openVolume } from './meta-volume';
import { MemorySpace } from './testing/memory-space';

const SLICE = 8 * 1024 * 1024;

function crashCopy(space: MemorySpace): MemorySpace {
  const copy = new MemorySpace(space.sliceDataBytes, 0, space.maxSlices);
  for (const s of space.slices) copy.slices.push(Buffer.from(s));
  return copy;
}

async function replayedAfter(txs: number, checkpointLogBytes: number): Promise<number> {
  const space = new MemorySpace(SLICE, 4, 16);
  await formatVolume(space, { volumeId: 5n, maxBytes: 16 * SLICE });
  const vol = await openVolume(space, { cachePages: 4096, checkpointIntervalMs: 0, checkpointLogBytes });
  for (let i = 0; i < txs; i++) {
    const lsn = await vol.apply({ puts: [[Buffer.from(`k${i % 5000}`), Buffer.alloc(300, i & 255)]], dels: [] });
    await vol.durable(lsn);
  }
  // Let a checkpoint that started in the background finish, as time would.
  await new Promise((r) => setTimeout(r, 50));
  const image = crashCopy(space);
  const reopened = await openVolume(image, { checkpointIntervalMs: 0 });
  const replayed = reopened.replayedRecords;
  expect(await reopened.get(Buffer.from(`k${(txs - 1) % 5000}`))).toEqual(Buffer.alloc(300, (txs - 1) & 255));
  await reopened.close();
  await vol.close();
  return replayed;
}

describe('checkpoint trigger by log size', () => {
  it('keeps the replayed tail near the configured bound', async () => {
    // ~330 bytes of log per transaction: 64 KiB holds about 200 of them.
    const small = await replayedAfter(3000, 64 * 1024);
    expect(small).toBeGreaterThan(0);
    expect(small).toBeLessThan(600);
    // With the bound far away, the same work leaves the whole run in the log.
    const large = await replayedAfter(3000, 64 * 1024 * 1024);
    expect(large).toBeGreaterThan(2500);
  });
});
