// Goal: the relay's record reader yields exactly the records sent, however the sender fragments
// them and however TCP splits the stream, in a bounded number of pieces, and refuses oversized
// records. Method: fast-check builds records, fragments and chunkings and compares the joined
// pieces; golden cases pin the zero-copy view and the trickle bound.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordTooLargeError } from '@ferry/oncrpc';
import { MIN_VIEW_BYTES, RecordPieces, recordHead } from './record-pieces';

function mark(length: number, last: boolean): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(((last ? 0x8000_0000 : 0) | length) >>> 0);
  return b;
}

function fragmentRecord(record: Buffer, cuts: number[]): Buffer {
  const points = [...new Set(cuts.map((c) => Math.floor(c * record.length)))].filter((p) => p > 0 && p < record.length).sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of [...points, record.length]) {
    parts.push(mark(p - from, p === record.length), record.subarray(from, p));
    from = p;
  }
  return Buffer.concat(parts);
}

describe('RecordPieces', () => {
  it('yields the same records for any fragmentation and any chunking, in bounded pieces', () => {
    const recordArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.integer({ min: 0, max: 40_000 }).map((n) => Buffer.alloc(n, n & 0xff)),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(recordArb, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 })), { minLength: 1, maxLength: 6 }),
        fc.array(fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1000, max: 70_000 })), { minLength: 1, maxLength: 30 }),
        (records, sizes) => {
          const stream = Buffer.concat(records.map(([r, cuts]) => fragmentRecord(r, cuts)));
          const reader = new RecordPieces(1 << 20);
          const out: Buffer[] = [];
          for (let at = 0, i = 0; at < stream.length; i++) {
            const n = sizes[i % sizes.length]!;
            reader.push(stream.subarray(at, at + n));
            at += n;
            for (let p = reader.next(); p !== undefined; p = reader.next()) {
              const joined = Buffer.concat(p);
              expect(joined.length).toBe(reader.length);
              expect(p.length).toBeLessThanOrEqual(Math.ceil(reader.length / MIN_VIEW_BYTES) * 2 + 2 * 5);
              out.push(joined);
            }
          }
          expect(out.length).toBe(records.length);
          records.forEach(([r], i) => expect(out[i]!.equals(r)).toBe(true));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('hands out a record inside one chunk as a view, and a trickled record in few pieces', () => {
    const body = Buffer.alloc(100_000, 7);
    const chunk = Buffer.concat([mark(body.length, true), body]);
    const r = new RecordPieces(1 << 20);
    r.push(chunk);
    const [only, ...rest] = r.next()!;
    expect(rest).toEqual([]);
    expect(only!.buffer).toBe(chunk.buffer); // no copy
    // One byte per packet: pieces of the staging size, not one per byte.
    const t = new RecordPieces(1 << 20);
    let pieces: Buffer[] | undefined;
    for (const byte of chunk) {
      t.push(Buffer.from([byte]));
      pieces = t.next() ?? pieces;
    }
    expect(Buffer.concat(pieces!).equals(body)).toBe(true);
    expect(pieces!.length).toBe(Math.ceil(body.length / (16 * 1024)));
  });

  it('refuses a record over the limit before keeping its bytes, and stays poisoned', () => {
    const r = new RecordPieces(1000);
    r.push(Buffer.concat([mark(600, false), Buffer.alloc(600), mark(500, true)]));
    expect(() => r.next()).toThrow(RecordTooLargeError);
    expect(() => r.next()).toThrow(RecordTooLargeError);
  });

  it('recordHead gives the first bytes as a view or a small copy', () => {
    const a = Buffer.from('abc');
    const b = Buffer.from('defgh');
    expect(recordHead([a, b], 8, 5).toString()).toBe('abcde');
    expect(recordHead([b], 5, 3).buffer).toBe(b.buffer);
    expect(recordHead([a, b], 8, 100).toString()).toBe('abcdefgh');
    expect(recordHead([], 0, 10).length).toBe(0);
  });
});
