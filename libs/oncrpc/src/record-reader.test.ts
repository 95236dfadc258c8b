// Goal: the record reader yields exactly the records that were sent, however TCP splits the
// stream and however the sender fragments each record, and refuses records over the limit.
// Method: fast-check builds records, fragments them, cuts the byte stream at random points,
// and compares what comes out; golden cases pin zero-copy and the limit checks.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XdrWriter } from '@ferry/xdr';
import { RecordReader, RecordTooLargeError } from './record-reader';
import { beginRecord, endRecord, frameRecord } from './record-writer';

function mark(length: number, last: boolean): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(((last ? 0x8000_0000 : 0) | length) >>> 0);
  return b;
}

/** Encode a record as fragments cut at the given relative points. */
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

function drain(reader: RecordReader, out: Buffer[]): void {
  for (let r = reader.next(); r !== undefined; r = reader.next()) out.push(Buffer.from(r));
}

const recordArb = fc.uint8Array({ minLength: 0, maxLength: 3000 }).map((a) => Buffer.from(a));
const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 });

describe('RecordReader', () => {
  it('yields the same records for any fragmentation and any chunking of the stream', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(recordArb, cutsArb), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }),
        (records, chunkSizes) => {
          const stream = Buffer.concat(records.map(([rec, cuts]) => fragmentRecord(rec, cuts)));
          const reader = new RecordReader(4096);
          const out: Buffer[] = [];
          let at = 0;
          let i = 0;
          while (at < stream.length) {
            const n = chunkSizes[i++ % chunkSizes.length]!;
            reader.push(stream.subarray(at, at + n));
            at += n;
            drain(reader, out);
          }
          expect(out).toEqual(records.map(([rec]) => rec));
          expect(reader.bufferedBytes).toBe(0);
          expect(reader.partialRecordBytes).toBe(0);
        },
      ),
    );
  });

  it('returns a view of the chunk for a single-fragment record (no copy)', () => {
    const chunk = Buffer.concat([frameRecord(Buffer.from('abcdefgh')), frameRecord(Buffer.from('ijkl'))]);
    const reader = new RecordReader(100);
    reader.push(chunk);
    const first = reader.next()!;
    expect(first.toString()).toBe('abcdefgh');
    expect(first.buffer).toBe(chunk.buffer);
    expect(first.byteOffset).toBe(chunk.byteOffset + 4);
    expect(reader.next()!.toString()).toBe('ijkl');
    expect(reader.next()).toBeUndefined();
  });

  it('accepts a record of exactly the limit and refuses one byte more, before buffering it', () => {
    const ok = new RecordReader(8);
    ok.push(frameRecord(Buffer.alloc(8, 1)));
    expect(ok.next()).toEqual(Buffer.alloc(8, 1));

    const big = new RecordReader(8);
    big.push(mark(9, true)); // only the mark: the body never needs to arrive
    expect(() => big.next()).toThrow(RecordTooLargeError);
    expect(() => big.next()).toThrow(RecordTooLargeError); // poisoned for good
  });

  it('counts earlier fragments against the limit', () => {
    const reader = new RecordReader(8);
    reader.push(Buffer.concat([mark(5, false), Buffer.alloc(5), mark(4, true)]));
    expect(() => reader.next()).toThrow(RecordTooLargeError);
  });

  it('reassembles a large fragment that arrives in many chunks into one buffer of the announced length', () => {
    const record = Buffer.alloc(200_000);
    for (let i = 0; i < record.length; i++) record[i] = (i * 7) & 0xff;
    const stream = frameRecord(record);
    const reader = new RecordReader(1 << 20);
    reader.push(stream.subarray(0, 4)); // only the mark: nothing is reserved for a promise
    expect(reader.next()).toBeUndefined();
    expect(reader.reservedBytes).toBe(0);
    reader.push(stream.subarray(4, 14)); // 10 body bytes: the whole fragment, once
    expect(reader.next()).toBeUndefined();
    expect(reader.reservedBytes).toBe(200_000);
    let out: Buffer | undefined;
    for (let at = 14; at < stream.length; at += 1000) {
      reader.push(stream.subarray(at, at + 1000));
      out = reader.next() ?? out;
      if (out === undefined) expect(reader.reservedBytes).toBe(200_000); // never regrown
    }
    expect(out).toEqual(record);
    expect(reader.reservedBytes).toBe(0);
  });

  it('reassembles a record made of 5000 one-byte fragments', () => {
    const reader = new RecordReader(10_000);
    const parts: Buffer[] = [];
    for (let i = 0; i < 5000; i++) parts.push(mark(1, i === 4999), Buffer.from([i & 0xff]));
    reader.push(Buffer.concat(parts));
    const rec = reader.next()!;
    expect(rec.length).toBe(5000);
    expect(rec[4999]).toBe(4999 & 0xff);
  });

  it('frames a writer-built reply in place with the last-fragment mark', () => {
    const w = new XdrWriter(4);
    const at = beginRecord(w);
    w.uint(0xdeadbeef).uint(7);
    const framed = endRecord(w, at);
    expect(framed.toString('hex')).toBe('80000008deadbeef00000007');
    expect(framed.buffer).toBe(w.buf.buffer);
  });
});
