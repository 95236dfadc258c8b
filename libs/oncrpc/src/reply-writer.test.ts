/**
 * Goal: a spliced opaque reaches the wire exactly as a copied one would, without being copied.
 * Method: encode the same values through RpcReplyWriter and a plain XdrWriter and compare the
 * concatenated pieces byte for byte (fast-check over sizes and trailing fields), check the
 * spliced piece is the caller's buffer itself, and that truncation and framing account for it.
 */
import fc from 'fast-check';
import { XdrWriter } from '@ferry/xdr';
import { describe, expect, it } from 'vitest';
import { beginRecord, endRecord, endRecordPieces } from './record-writer';
import { RpcReplyWriter, SPLICE_MIN_BYTES, writeOpaqueSpliced } from './reply-writer';

function encode(w: XdrWriter, head: number, data: Buffer, tail: number): void {
  w.uint(head);
  writeOpaqueSpliced(w, data);
  w.uint(tail);
}

describe('RpcReplyWriter', () => {
  it('gives the same framed bytes as copying, with the data as its own piece', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 * SPLICE_MIN_BYTES }), fc.integer({ min: 0, max: 255 }), (n, fill) => {
        const data = Buffer.alloc(n, fill);
        const plain = new XdrWriter(16);
        const plainMark = beginRecord(plain);
        encode(plain, 7, data, 9);
        const expected = endRecord(plain, plainMark);

        const w = new RpcReplyWriter(16);
        const mark = beginRecord(w);
        encode(w, 7, data, 9);
        const pieces = endRecordPieces(w, mark);
        expect(Buffer.concat(pieces)).toEqual(expected);
        // Big data is referenced, not copied; small data is copied into the one buffer.
        expect(pieces.includes(data)).toBe(n >= SPLICE_MIN_BYTES);
        expect(w.flat(0)).toEqual(expected);
      }),
      { numRuns: 25 },
    );
  });

  it('forgets spliced data cut off by truncate, and keeps what came before', () => {
    const w = new RpcReplyWriter(16);
    w.uint(1);
    const cut = w.length;
    writeOpaqueSpliced(w, Buffer.alloc(SPLICE_MIN_BYTES + 1, 5));
    expect(w.splicedSince(cut)).toBe(true);
    w.truncate(cut);
    w.uint(2);
    expect(w.splicedBytes).toBe(0);
    expect(w.splicedSince(0)).toBe(false);
    expect(Buffer.concat(w.pieces(0)).toString('hex')).toBe('0000000100000002');
  });

  it('releases a spliced buffer only through releaser(), once per buffer; a copied one at once; a truncated one never', () => {
    const small: string[] = [];
    const w = new RpcReplyWriter(16);
    w.opaqueSpliced(Buffer.alloc(SPLICE_MIN_BYTES - 1), () => small.push('small'));
    expect(small).toEqual(['small']); // copied into the writer: free already
    const released: number[] = [];
    w.opaqueSpliced(Buffer.alloc(SPLICE_MIN_BYTES, 1), () => released.push(1));
    w.uint(0);
    const cut = w.length;
    w.opaqueSpliced(Buffer.alloc(SPLICE_MIN_BYTES, 2), () => released.push(2));
    w.truncate(cut);
    expect(released).toEqual([]);
    const release = w.releaser();
    expect(released).toEqual([]);
    release!();
    expect(released).toEqual([1]); // the truncated splice is not released: its owner keeps it
    expect(new RpcReplyWriter(16).releaser()).toBeUndefined();
  });
});

