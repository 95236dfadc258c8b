// Goal: ChunkQueue gives back the record marks and bytes of a stream whatever chunks it arrived
// in (marks cut anywhere, empty chunks), counts what it holds exactly, and says -1, keeping the
// partial mark, until a mark is whole. Method: fast-check over mark/body sequences and splits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkQueue } from './chunk-queue';

/** Cuts `b` at the given fractions (sorted positions), possibly into empty chunks. */
function split(b: Buffer, cuts: number[]): Buffer[] {
  const at = cuts.map((c) => Math.floor(c * (b.length + 1))).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const a of at) {
    out.push(b.subarray(from, Math.max(from, a)));
    from = Math.max(from, a);
  }
  out.push(b.subarray(from));
  return out;
}

describe('ChunkQueue', () => {
  it('reads the same marks and bodies however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ mark: fc.integer({ min: 0, max: 0xffff_ffff }), body: fc.uint8Array({ maxLength: 40 }) }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        (frames, cuts) => {
          const stream = Buffer.concat(
            frames.flatMap((f) => {
              const m = Buffer.alloc(4);
              m.writeUInt32BE(f.mark);
              return [m, Buffer.from(f.body)];
            }),
          );
          const q = new ChunkQueue();
          const pieces = split(stream, cuts);
          let pushed = 0;
          let consumed = 0;
          let i = 0;
          const got: Array<{ mark: number; body: Buffer }> = [];
          let want: { mark: number; body: Buffer[]; left: number } | undefined;
          for (;;) {
            if (want === undefined) {
              const m = q.readMark();
              if (m < 0) {
                expect(q.partialMarkBytes).toBeLessThan(4);
                if (i === pieces.length) break;
                pushed += pieces[i]!.length;
                q.push(pieces[i++]!);
                continue;
              }
              consumed += 4;
              want = { mark: m, body: [], left: frames[got.length]!.body.length };
            }
            while (want.left > 0) {
              const h = q.head();
              if (h === undefined) break;
              const n = Math.min(want.left, h.length - q.offset);
              want.body.push(Buffer.from(h.subarray(q.offset, q.offset + n)));
              q.consume(n);
              consumed += n;
              want.left -= n;
            }
            expect(q.bytes).toBe(pushed - consumed);
            if (want.left === 0) {
              got.push({ mark: want.mark, body: Buffer.concat(want.body) });
              want = undefined;
            } else {
              if (i === pieces.length) break;
              pushed += pieces[i]!.length;
              q.push(pieces[i++]!);
            }
          }
          expect(got).toEqual(frames.map((f) => ({ mark: f.mark, body: Buffer.from(f.body) })));
          expect(q.bytes).toBe(0);
          expect(q.head()).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });
});
