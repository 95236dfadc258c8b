// Goal: reading ahead never lets a client see data other than what a read without it would
// return, whatever writes, truncates, commits and background flushes land between, around or
// during the reads ahead; and a sequential read is actually served from the chunk read ahead.
// Method: fast-check command sequences run against the engine (a memory volume whose block
// reads finish after a random number of event-loop turns, copying the data at a random point
// in between) and a byte-array model; every read is compared with the model.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StableHow } from '../api';
import { makeFs, newFile, seededRandom, slowReads, turns } from './test-helpers';

const B = 4096;

class ModelFile {
  bytes = Buffer.alloc(0);
  write(off: number, data: Buffer): void {
    if (off + data.length > this.bytes.length) this.bytes = Buffer.concat([this.bytes, Buffer.alloc(off + data.length - this.bytes.length)]);
    data.copy(this.bytes, off);
  }
  truncate(size: number): void {
    this.bytes = size <= this.bytes.length ? Buffer.from(this.bytes.subarray(0, size)) : Buffer.concat([this.bytes, Buffer.alloc(size - this.bytes.length)]);
  }
  read(off: number, len: number): Buffer {
    return this.bytes.subarray(Math.min(off, this.bytes.length), Math.min(off + len, this.bytes.length));
  }
}

const MAX_BYTES = 40 * B;
const chunkArb = fc.oneof(fc.constantFrom(B, 2 * B, 4 * B, 8 * B), fc.integer({ min: 1, max: 6 * B }));
const writeArb = fc.record({
  op: fc.constant('write' as const),
  off: fc.integer({ min: 0, max: MAX_BYTES - 1 }),
  len: fc.integer({ min: 1, max: 5 * B }),
  byte: fc.integer({ min: 1, max: 255 }),
  stable: fc.constantFrom(StableHow.UNSTABLE, StableHow.FILE_SYNC),
});
const cmdArb = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('seq' as const), chunk: chunkArb }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constant('rewind' as const), to: fc.integer({ min: 0, max: MAX_BYTES }) }), weight: 1 },
  { arbitrary: writeArb, weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('truncate' as const), size: fc.integer({ min: 0, max: MAX_BYTES }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('commit' as const) }), weight: 1 },
  // A sequential read and a write issued together, the write outside the read's range (so
  // the model knows what the read must return) but possibly inside the chunk read ahead.
  { arbitrary: fc.record({ op: fc.constant('seqWithWrite' as const), chunk: chunkArb, write: writeArb }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('settle' as const), turns: fc.integer({ min: 0, max: 6 }) }), weight: 1 },
);

describe('engine readahead', () => {
  it('reads return what the model holds, with writes, truncates and flushes around reads ahead', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 50 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (cmds, seed) => {
        const next = seededRandom(seed);
        // A small write buffer: background flushes move data from the buffer to extents
        // while reads ahead are in flight.
        const { fs, volume } = await makeFs({}, { writeBufferBytes: 8 * B });
        slowReads(volume, () => [next(4), next(4)]);
        const ref = await newFile(fs, 'f');
        const model = new ModelFile();
        let cursor = 0;
        const seqRead = async (chunk: number): Promise<void> => {
          const at = cursor;
          const r = await fs.read(ref, BigInt(at), chunk);
          expect(r.data.equals(model.read(at, chunk)), `read at ${at} of ${chunk}`).toBe(true);
        };
        const write = async (w: { off: number; len: number; byte: number; stable: StableHow }): Promise<void> => {
          const data = Buffer.alloc(w.len, w.byte);
          model.write(w.off, data);
          await fs.write(ref, BigInt(w.off), data, w.stable);
        };
        for (const c of cmds) {
          switch (c.op) {
            case 'seq':
              await seqRead(c.chunk);
              cursor = cursor + c.chunk >= model.bytes.length ? 0 : cursor + c.chunk;
              break;
            case 'rewind':
              cursor = c.to;
              break;
            case 'write':
              await write(c);
              break;
            case 'truncate':
              model.truncate(c.size);
              await fs.setattr(ref, { size: BigInt(c.size) });
              break;
            case 'commit':
              await fs.commit(ref, 0n, 0);
              break;
            case 'seqWithWrite': {
              const at = cursor;
              const w = c.write;
              // Keep the write clear of [at, at+chunk): move it after the read's range.
              const off = w.off < at + c.chunk && w.off + w.len > at ? at + c.chunk : w.off;
              const expected = Buffer.from(model.read(at, c.chunk));
              const data = Buffer.alloc(w.len, w.byte);
              const reading = fs.read(ref, BigInt(at), c.chunk);
              const writing = fs.write(ref, BigInt(off), data, w.stable);
              model.write(off, data);
              const [r] = await Promise.all([reading, writing]);
              // The write may land before the read: only past the old end of file does that
              // change what the read returns (a longer file), never the bytes it had.
              expect(r.data.subarray(0, expected.length).equals(expected), `read at ${at} of ${c.chunk} beside a write at ${off}`).toBe(true);
              cursor = cursor + c.chunk >= model.bytes.length ? 0 : cursor + c.chunk;
              break;
            }
            case 'settle':
              await turns(c.turns);
              break;
          }
        }
        // Everything, read in one go and then sequentially in small chunks, matches.
        const all = await fs.read(ref, 0n, model.bytes.length + B);
        expect(all.data.equals(model.bytes)).toBe(true);
        for (let at = 0; at < model.bytes.length; at += 3 * B) {
          const r = await fs.read(ref, BigInt(at), 3 * B);
          expect(r.data.equals(model.read(at, 3 * B)), `final read at ${at}`).toBe(true);
        }
        await fs.close();
      }),
      { numRuns: 150 },
    );
  });

  it('serves a sequential read from the chunk read ahead, and not after a write to it', async () => {
    const events: string[] = [];
    const { fs, volume } = await makeFs({}, { onReadahead: (o) => events.push(o) });
    const reads = slowReads(volume, () => [1, 1]);
    const ref = await newFile(fs, 'f');
    const content = Buffer.alloc(64 * B);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7 + (i >> 12)) & 0xff;
    await fs.write(ref, 0n, content, StableHow.FILE_SYNC);
    const chunk = 8 * B;

    const r0 = await fs.read(ref, 0n, chunk);
    expect(r0.data.equals(content.subarray(0, chunk))).toBe(true);
    await turns(10); // the read ahead of the second chunk finishes
    const before = reads.calls();
    const r1 = await fs.read(ref, BigInt(chunk), chunk);
    expect(r1.data.equals(content.subarray(chunk, 2 * chunk))).toBe(true);
    // Served from the chunk read ahead: no block read of its own.
    expect(reads.calls() - before).toBe(1); // only the read ahead of the third chunk
    await turns(10);

    // A write into the third chunk after it was read ahead: the read returns the new bytes.
    const patch = Buffer.alloc(100, 0xee);
    await fs.write(ref, BigInt(2 * chunk + 10), patch, StableHow.UNSTABLE);
    patch.copy(content, 2 * chunk + 10);
    const r2 = await fs.read(ref, BigInt(2 * chunk), chunk);
    expect(r2.data.equals(content.subarray(2 * chunk, 3 * chunk))).toBe(true);

    // A truncate into the next chunk: the read sees the shorter file.
    await turns(10);
    await fs.setattr(ref, { size: BigInt(3 * chunk + 5) });
    const r3 = await fs.read(ref, BigInt(3 * chunk), chunk);
    expect(r3.data.length).toBe(5);
    expect(r3.eof).toBe(true);
    await fs.close();
    // The second chunk was served from its read ahead; the third's went stale with the write,
    // the fourth's with the truncate. Every chunk started ends used or dropped.
    expect(events.filter((e) => e === 'used').length).toBe(1);
    expect(events.filter((e) => e === 'started').length).toBe(events.filter((e) => e !== 'started').length);
  });

  it('reads ahead for a sequential reader that starts in the middle of a file', async () => {
    const { fs, volume } = await makeFs();
    const reads = slowReads(volume, () => [0, 0]);
    const ref = await newFile(fs, 'f');
    const content = Buffer.alloc(64 * B, 9);
    await fs.write(ref, 0n, content, StableHow.FILE_SYNC);
    await fs.read(ref, BigInt(20 * B), 4 * B); // not sequential: nothing read ahead
    await turns(3);
    await fs.read(ref, BigInt(24 * B), 4 * B); // continues it: reads 28-31 ahead
    await turns(3);
    const before = reads.calls();
    const r = await fs.read(ref, BigInt(28 * B), 4 * B);
    expect(r.data.equals(content.subarray(28 * B, 32 * B))).toBe(true);
    expect(reads.calls() - before).toBe(1); // only the read ahead of 32-35
    await fs.close();
  });

  it('does not read ahead when turned off, nor for reads that are not sequential', async () => {
    for (const streams of [0, 32]) {
      const { fs, volume } = await makeFs({}, { readaheadStreams: streams });
      const reads = slowReads(volume, () => [0, 0]);
      const ref = await newFile(fs, 'f');
      await fs.write(ref, 0n, Buffer.alloc(64 * B, 3), StableHow.FILE_SYNC);
      const base = reads.calls();
      // Random order: no read follows the one before it.
      for (const at of [40, 8, 24, 0, 56]) await fs.read(ref, BigInt(at * B), 4 * B);
      await turns(5);
      // The read at 0 is the start of a stream: it reads ahead unless turned off.
      expect(reads.calls() - base).toBe(streams === 0 ? 5 : 6);
      await fs.close();
    }
  });
});
