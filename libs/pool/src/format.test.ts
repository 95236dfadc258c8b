// Goal: pin the version-1 on-disk bytes of a label and a slice header, and show the decoders
// accept exactly what the encoders write and turn any other bytes into a reason, never a throw.
// Method: golden hex (checksums cross-checked with an independent bitwise crc32c) plus
// fast-check round trips and random/bit-flipped records.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { sealRecord } from './checksum';
import { type DeviceLabel, decodeLabel, encodeLabel } from './label';
import { BLOCK_BYTES, RECORD_BYTES, SliceState } from './layout';
import { type SliceHeader, decodeSliceHeader, encodeSliceHeader } from './slice-header';

const poolId = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const deviceId = Buffer.from('101112131415161718191a1b1c1d1e1f', 'hex');

const goldenLabel: DeviceLabel = {
  poolId,
  deviceId,
  deviceIndex: 2,
  generation: 1n,
  deviceSizeBytes: 1048576 + 3 * 268435456 + 12345,
  sliceBytes: 268435456,
  firstSliceOffsetBytes: 1048576,
  sliceCount: 3,
};
const GOLDEN_LABEL_COPY1_HEX =
  '46455252594c424c' + // "FERRYLBL"
  '01000000' + // version 1
  '01000000' + // copy index 1
  '000102030405060708090a0b0c0d0e0f' + // pool id
  '101112131415161718191a1b1c1d1e1f' + // device id
  '02000000' + // device index 2
  '00000000' + // flags
  '0100000000000000' + // generation 1
  '3930103000000000' + // device size 806367289
  '0000001000000000' + // slice bytes 256 MiB
  '0000100000000000' + // first slice offset 1 MiB
  '0300000000000000'; // slice count 3
const GOLDEN_LABEL_CRC_HEX = '7b775c76';

const goldenSlice: SliceHeader = {
  state: SliceState.USED,
  poolId,
  deviceId,
  deviceIndex: 2,
  slot: 7,
  fsId: 0x0123456789abcdefn,
  sliceIndex: 5,
};
const GOLDEN_SLICE_HEX =
  '4645525259534c43' + // "FERRYSLC"
  '01000000' + // version 1
  '02000000' + // state USED
  '000102030405060708090a0b0c0d0e0f' + // pool id
  '101112131415161718191a1b1c1d1e1f' + // device id
  '02000000' + // device index 2
  '07000000' + // slot 7
  'efcdab8967452301' + // fs id 0x0123456789abcdef
  '0500000000000000'; // slice index 5
const GOLDEN_SLICE_CRC_HEX = '52fd3479';

function expectZero(buf: Buffer, from: number, to: number): void {
  expect(buf.subarray(from, to).equals(Buffer.alloc(to - from))).toBe(true);
}

describe('golden bytes', () => {
  test('label copy 1', () => {
    const block = encodeLabel(goldenLabel, 1);
    expect(block.length).toBe(BLOCK_BYTES);
    const fixed = GOLDEN_LABEL_COPY1_HEX.length / 2;
    expect(block.subarray(0, fixed).toString('hex')).toBe(GOLDEN_LABEL_COPY1_HEX);
    expectZero(block, fixed, 508);
    expect(block.subarray(508, 512).toString('hex')).toBe(GOLDEN_LABEL_CRC_HEX);
    expectZero(block, 512, BLOCK_BYTES);
    expect(decodeLabel(block, 1)).toEqual({ kind: 'ok', label: goldenLabel });
  });

  test('a label decodes only at its own copy position', () => {
    expect(decodeLabel(encodeLabel(goldenLabel, 1), 0).kind).toBe('corrupt');
  });

  test('slice header', () => {
    const block = encodeSliceHeader(goldenSlice);
    expect(block.length).toBe(BLOCK_BYTES);
    const fixed = GOLDEN_SLICE_HEX.length / 2;
    expect(block.subarray(0, fixed).toString('hex')).toBe(GOLDEN_SLICE_HEX);
    expectZero(block, fixed, 508);
    expect(block.subarray(508, 512).toString('hex')).toBe(GOLDEN_SLICE_CRC_HEX);
    expectZero(block, 512, BLOCK_BYTES);
    expect(decodeSliceHeader(block)).toEqual({ kind: 'ok', header: goldenSlice });
  });
});

const id16 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a));
const labelArb = fc
  .record({
    poolId: id16,
    deviceId: id16,
    deviceIndex: fc.nat({ max: 0xffffffff }),
    generation: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    sliceBlocks: fc.integer({ min: 2, max: 1 << 20 }),
    firstBlocks: fc.integer({ min: 2, max: 1024 }),
    slices: fc.integer({ min: 1, max: 100000 }),
    tail: fc.nat({ max: 1 << 20 }),
  })
  .map(({ sliceBlocks, firstBlocks, slices, tail, ...rest }): DeviceLabel => {
    const sliceBytes = sliceBlocks * 4096;
    const firstSliceOffsetBytes = firstBlocks * 4096;
    return { ...rest, sliceBytes, firstSliceOffsetBytes, sliceCount: slices, deviceSizeBytes: firstSliceOffsetBytes + slices * sliceBytes + (tail % sliceBytes) };
  });
const sliceArb = fc.oneof(
  fc.record({ poolId: id16, deviceId: id16, deviceIndex: fc.nat({ max: 0xffffffff }), slot: fc.nat({ max: 0xffffffff }) }).map((r): SliceHeader => ({ ...r, state: SliceState.FREE, fsId: 0n, sliceIndex: 0 })),
  fc
    .record({
      poolId: id16,
      deviceId: id16,
      deviceIndex: fc.nat({ max: 0xffffffff }),
      slot: fc.nat({ max: 0xffffffff }),
      fsId: fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }),
      sliceIndex: fc.nat({ max: 0xffffffff }),
    })
    .map((r): SliceHeader => ({ ...r, state: SliceState.USED })),
);

describe('properties', () => {
  test('decode(encode(label)) = label', () => {
    fc.assert(
      fc.property(labelArb, fc.constantFrom(0 as const, 1 as const), (l, k) => {
        expect(decodeLabel(encodeLabel(l, k), k)).toEqual({ kind: 'ok', label: l });
      }),
    );
  });

  test('decode(encode(slice header)) = slice header', () => {
    fc.assert(
      fc.property(sliceArb, (h) => {
        expect(decodeSliceHeader(encodeSliceHeader(h))).toEqual({ kind: 'ok', header: h });
      }),
    );
  });

  test('any single bit flip in a record is detected', () => {
    fc.assert(
      fc.property(labelArb, sliceArb, fc.nat({ max: RECORD_BYTES * 8 - 1 }), (l, h, bit) => {
        const lb = encodeLabel(l, 0);
        lb[bit >> 3]! ^= 1 << (bit & 7);
        expect(decodeLabel(lb, 0).kind).not.toBe('ok');
        const hb = encodeSliceHeader(h);
        hb[bit >> 3]! ^= 1 << (bit & 7);
        expect(decodeSliceHeader(hb).kind).not.toBe('ok');
      }),
    );
  });

  test('arbitrary bytes give a value or a reason, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.boolean(), (bytes, withMagic) => {
        const b = Buffer.from(bytes);
        if (withMagic && b.length >= 8) b.write('FERRYLBL', 0, 'ascii');
        expect(['ok', 'absent', 'corrupt', 'unsupported']).toContain(decodeLabel(b, 0).kind);
        if (withMagic && b.length >= 8) b.write('FERRYSLC', 0, 'ascii');
        expect(['ok', 'corrupt', 'unsupported']).toContain(decodeSliceHeader(b).kind);
      }),
    );
  });

  test('a sealed record with an unknown version is reported as unsupported, not corrupt', () => {
    const b = encodeSliceHeader(goldenSlice);
    b.writeUInt32LE(2, 8);
    sealRecord(b);
    expect(decodeSliceHeader(b)).toEqual({ kind: 'unsupported', version: 2 });
    const l = encodeLabel(goldenLabel, 0);
    l.writeUInt32LE(9, 8);
    sealRecord(l);
    expect(decodeLabel(l, 0)).toEqual({ kind: 'unsupported', version: 9 });
  });
});
