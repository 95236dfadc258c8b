// Goal: read buffers given back (ReadResult.release) are used again, and a read result not
// yet released never changes, whatever reads, reads ahead, writes, truncates and flushes
// follow it. Method: a deterministic check of reuse, then fast-check command sequences against
// a byte model on a memory volume whose block reads finish after random event-loop turns;
// every result is snapshotted when returned and compared again after every later command.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ReadResult, StableHow } from '../api';
import { makeFs, newFile, seededRandom, slowReads, turns } from './test-helpers';

const B = 4096;

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7 + (i >> 12)) & 0xff;
  return b;
}

describe('engine read buffers', () => {
  it('a released buffer serves a later read of the same size; a held one is never reused', async () => {
    const { fs } = await makeFs({}, { readaheadStreams: 0 });
    const ref = await newFile(fs, 'f');
    const content = pattern(64 * B, 1);
    await fs.write(ref, 0n, content, StableHow.FILE_SYNC);
    await fs.commit(ref, 0n, 0);
    const r1 = await fs.read(ref, 0n, 16 * B);
    expect(r1.release).toBeTypeOf('function');
    r1.release!();
    r1.release!(); // a second call changes nothing
    const r2 = await fs.read(ref, BigInt(16 * B), 16 * B);
    expect(r2.data.buffer).toBe(r1.data.buffer);
    expect(r2.data.equals(content.subarray(16 * B, 32 * B))).toBe(true);
    const r3 = await fs.read(ref, BigInt(32 * B), 16 * B); // r2 is held
    expect(r3.data.buffer).not.toBe(r2.data.buffer);
    expect(r2.data.equals(content.subarray(16 * B, 32 * B))).toBe(true);
    expect(r3.data.equals(content.subarray(32 * B, 48 * B))).toBe(true);
    await fs.close();
  });

  it('keeps none with readBufferBytes 0', async () => {
    const { fs } = await makeFs({}, { readaheadStreams: 0, readBufferBytes: 0 });
    const ref = await newFile(fs, 'f');
    await fs.write(ref, 0n, pattern(32 * B, 2), StableHow.FILE_SYNC);
    const r1 = await fs.read(ref, 0n, 16 * B);
    r1.release!();
    const r2 = await fs.read(ref, BigInt(16 * B), 16 * B);
    expect(r2.data.buffer).not.toBe(r1.data.buffer);
    await fs.close();
  });

  const MAX = 80 * B;
  const chunkArb = fc.constantFrom(16 * B, 16 * B + 1000, 20 * B, 32 * B);
  const cmdArb = fc.oneof(
    { arbitrary: fc.record({ op: fc.constant('seq' as const), chunk: chunkArb }), weight: 5 },
    { arbitrary: fc.record({ op: fc.constant('read' as const), off: fc.integer({ min: 0, max: MAX }), chunk: chunkArb }), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat() }), weight: 4 },
    {
      arbitrary: fc.record({
        op: fc.constant('write' as const),
        off: fc.integer({ min: 0, max: MAX - 1 }),
        len: fc.integer({ min: 1, max: 24 * B }),
        seed: fc.nat(255),
        stable: fc.constantFrom(StableHow.UNSTABLE, StableHow.FILE_SYNC),
      }),
      weight: 3,
    },
    { arbitrary: fc.record({ op: fc.constant('truncate' as const), size: fc.integer({ min: 0, max: MAX }) }), weight: 1 },
    { arbitrary: fc.record({ op: fc.constant('settle' as const), turns: fc.integer({ min: 0, max: 6 }) }), weight: 1 },
  );

  it('a result not yet released keeps its bytes while later reads reuse released buffers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (cmds, seed) => {
        const next = seededRandom(seed);
        // A small pool and write buffer: buffers go round, flushes land among the reads.
        const { fs, volume } = await makeFs({}, { writeBufferBytes: 16 * B, readBufferBytes: 96 * B });
        slowReads(volume, () => [next(3), next(3)]);
        const ref = await newFile(fs, 'f');
        let model = pattern(48 * B, seed & 0xff);
        await fs.write(ref, 0n, model, StableHow.FILE_SYNC);
        const held: Array<{ r: ReadResult; snapshot: Buffer }> = [];
        let cursor = 0;
        const read = async (at: number, len: number): Promise<void> => {
          const r = await fs.read(ref, BigInt(at), len);
          const expected = model.subarray(Math.min(at, model.length), Math.min(at + len, model.length));
          expect(r.data.equals(expected), `read at ${at} of ${len}`).toBe(true);
          held.push({ r, snapshot: Buffer.from(r.data) });
        };
        for (const c of cmds) {
          switch (c.op) {
            case 'seq':
              await read(cursor, c.chunk);
              cursor = cursor + c.chunk >= model.length ? 0 : cursor + c.chunk;
              break;
            case 'read':
              await read(c.off, c.chunk);
              break;
            case 'release':
              if (held.length > 0) held.splice(c.pick % held.length, 1)[0]!.r.release?.();
              break;
            case 'write': {
              const data = pattern(c.len, c.seed);
              if (c.off + c.len > model.length) model = Buffer.concat([model, Buffer.alloc(c.off + c.len - model.length)]);
              data.copy(model, c.off);
              await fs.write(ref, BigInt(c.off), data, c.stable);
              break;
            }
            case 'truncate':
              model = c.size <= model.length ? Buffer.from(model.subarray(0, c.size)) : Buffer.concat([model, Buffer.alloc(c.size - model.length)]);
              await fs.setattr(ref, { size: BigInt(c.size) });
              break;
            case 'settle':
              await turns(c.turns);
              break;
          }
          for (const h of held) expect(h.r.data.equals(h.snapshot), 'a held read result changed').toBe(true);
        }
        for (const h of held) h.r.release?.();
        await fs.close();
      }),
      { numRuns: 150 },
    );
  });
});
