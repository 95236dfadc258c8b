// Goal: a write that needs more of the write buffer than the background flush frees (more
// than three quarters of a small budget) still completes when other data is buffered.
// Method: the case fast-check found (read-release.test.ts with 16-block budget), kept as is:
// it used to spin forever, the flush stopping at a quarter of the budget.
import { expect, it } from 'vitest';
import { StableHow } from '../api';
import { makeFs, owner } from './test-helpers';

const B = 4096;

it('a write of nearly the whole budget completes behind buffered data', async () => {
  const { fs } = await makeFs({}, { writeBufferBytes: 16 * B });
  const { attr } = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: { mode: 0o644 } }, owner);
  const ref = { ino: attr.ino, generation: attr.generation };
  await fs.write(ref, 0n, Buffer.alloc(48 * B, 3), StableHow.FILE_SYNC);
  await fs.write(ref, 0n, Buffer.alloc(1, 1), StableHow.UNSTABLE);
  await fs.write(ref, 0n, Buffer.alloc(15 * B + 1, 2), StableHow.UNSTABLE);
  const other = await fs.create(fs.root, 'g', { how: 'unchecked', attrs: { mode: 0o644 } }, owner);
  await fs.write({ ino: other.attr.ino, generation: other.attr.generation }, 0n, Buffer.alloc(16 * B, 4), StableHow.UNSTABLE);
  const r = await fs.read(ref, 0n, 16 * B);
  expect(r.data.subarray(0, 15 * B + 1).every((x) => x === 2)).toBe(true);
  expect(r.data.subarray(15 * B + 1).every((x) => x === 3)).toBe(true);
  await fs.close();
}, 10_000);
