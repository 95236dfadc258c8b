// Goal: the XDR codec writes the exact bytes RFC 4506 prescribes and decodes any input to a
// value or an XdrError. Method: golden byte arrays for every primitive, fast-check round trips,
// and arbitrary/truncated inputs fed to every reader method.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XdrError, XdrReader, XdrWriter } from './index';

const hex = (b: Buffer): string => b.toString('hex');

describe('golden bytes (RFC 4506 §4)', () => {
  it('int, uint, enum, bool', () => {
    expect(hex(new XdrWriter().int(-2).bytes())).toBe('fffffffe');
    expect(hex(new XdrWriter().uint(0xdeadbeef).bytes())).toBe('deadbeef');
    expect(hex(new XdrWriter().enum(7).bytes())).toBe('00000007');
    expect(hex(new XdrWriter().bool(true).bool(false).bytes())).toBe('0000000100000000');
  });
  it('hyper and unsigned hyper', () => {
    expect(hex(new XdrWriter().hyper(-1n).bytes())).toBe('ffffffffffffffff');
    expect(hex(new XdrWriter().uhyper(0x0102030405060708n).bytes())).toBe('0102030405060708');
    expect(hex(new XdrWriter().uhyperNumber(2 ** 40 + 5).bytes())).toBe('0000010000000005');
  });
  it('hypers written after the buffer grew, and read from a view that does not start at 0', () => {
    const w = new XdrWriter(4).uint(1).uhyper(0xfedcba9876543210n).hyper(-2n);
    expect(hex(w.bytes())).toBe('00000001fedcba9876543210fffffffffffffffe');
    const r = new XdrReader(Buffer.concat([Buffer.from([9, 9, 9]), w.bytes()]).subarray(3));
    expect([r.uint(), r.uhyper(), r.hyper()]).toEqual([1, 0xfedcba9876543210n, -2n]);
  });
  it('refuses hypers that do not fit 64 bits rather than wrapping them', () => {
    expect(() => new XdrWriter().uhyper(2n ** 64n)).toThrow(RangeError);
    expect(() => new XdrWriter().uhyper(-1n)).toThrow(RangeError);
    expect(() => new XdrWriter().hyper(2n ** 63n)).toThrow(RangeError);
    expect(() => new XdrWriter().hyper(-(2n ** 63n) - 1n)).toThrow(RangeError);
    // ints are checked the same way; uints wrap modulo 2^32, as they always did.
    expect(() => new XdrWriter().int(2 ** 31)).toThrow(RangeError);
    expect(() => new XdrWriter().int(-(2 ** 31) - 1)).toThrow(RangeError);
    expect(hex(new XdrWriter().int(-(2 ** 31)).int(2 ** 31 - 1).uint(-1).bytes())).toBe('800000007fffffffffffffff');
  });
  it('float and double', () => {
    expect(hex(new XdrWriter().float(1.5).bytes())).toBe('3fc00000');
    expect(hex(new XdrWriter().double(-2).bytes())).toBe('c000000000000000');
  });
  it('fixed and variable opaque with zero padding', () => {
    expect(hex(new XdrWriter().fixedOpaque(Buffer.from([1, 2, 3])).bytes())).toBe('01020300');
    expect(hex(new XdrWriter().opaque(Buffer.from([0xaa, 0xbb, 0xcc, 0xdd, 0xee])).bytes())).toBe('00000005aabbccddee000000');
    expect(hex(new XdrWriter().opaque(Buffer.alloc(0)).bytes())).toBe('00000000');
  });
  it('string', () => {
    expect(hex(new XdrWriter().string('sillyprog').bytes())).toBe('0000000973696c6c7970726f67000000');
  });
  it('optional and array', () => {
    const w = new XdrWriter();
    w.optional<number>(7, (x, v) => x.uint(v)).optional<number>(undefined, (x, v) => x.uint(v));
    w.array([1, 2], (x, v) => x.uint(v));
    expect(hex(w.bytes())).toBe('0000000100000007' + '00000000' + '000000020000000100000002');
  });
  it('allocOpaque and truncateOpaque keep padding zero', () => {
    const w = new XdrWriter(4);
    w.uint(1);
    const win = w.allocOpaque(7);
    win.fill(0xff);
    w.truncateOpaque(win, 5);
    expect(hex(w.bytes())).toBe('00000001' + '00000005' + 'ffffffffff000000');
  });
});

describe('decoding limits', () => {
  it('refuses lengths over the cap or beyond the input', () => {
    const buf = new XdrWriter().uint(100).bytes();
    expect(() => new XdrReader(buf).opaque()).toThrow(XdrError);
    const ok = new XdrWriter().opaque(Buffer.alloc(10)).bytes();
    expect(() => new XdrReader(ok).opaque(8)).toThrow(/over limit/);
    expect(new XdrReader(ok).opaque(10).length).toBe(10);
  });
  it('refuses array counts that cannot fit the input', () => {
    const buf = new XdrWriter().uint(0x7fffffff).bytes();
    expect(() => new XdrReader(buf).array((r) => r.uint())).toThrow(/beyond input/);
  });
  it('refuses bad booleans and trailing bytes', () => {
    expect(() => new XdrReader(new XdrWriter().uint(2).bytes()).bool()).toThrow(/bad boolean/);
    const r = new XdrReader(new XdrWriter().uint(1).uint(2).bytes());
    r.uint();
    expect(() => r.expectEnd()).toThrow(/trailing/);
  });
  it('refuses unsigned hypers beyond 2^53 when a number is asked for', () => {
    expect(() => new XdrReader(new XdrWriter().uhyper(2n ** 60n).bytes()).uhyperNumber()).toThrow(XdrError);
  });
});

describe('properties', () => {
  type Item =
    | { t: 'int'; v: number }
    | { t: 'uint'; v: number }
    | { t: 'hyper'; v: bigint }
    | { t: 'uhyper'; v: bigint }
    | { t: 'bool'; v: boolean }
    | { t: 'opaque'; v: Uint8Array }
    | { t: 'string'; v: string }
    | { t: 'double'; v: number };
  const item: fc.Arbitrary<Item> = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((v) => ({ t: 'int' as const, v })),
    fc.nat({ max: 2 ** 32 - 1 }).map((v) => ({ t: 'uint' as const, v })),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v) => ({ t: 'hyper' as const, v })),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ t: 'uhyper' as const, v })),
    fc.boolean().map((v) => ({ t: 'bool' as const, v })),
    fc.uint8Array({ maxLength: 70 }).map((v) => ({ t: 'opaque' as const, v })),
    fc.string({ maxLength: 40 }).map((v) => ({ t: 'string' as const, v })),
    fc.double({ noNaN: true }).map((v) => ({ t: 'double' as const, v })),
  );

  it('decode(encode(x)) = x for sequences of items', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 30 }), (items) => {
        const w = new XdrWriter(8);
        for (const it of items) {
          if (it.t === 'opaque') w.opaque(it.v);
          else if (it.t === 'string') w.string(it.v);
          else if (it.t === 'hyper') w.hyper(it.v);
          else if (it.t === 'uhyper') w.uhyper(it.v);
          else if (it.t === 'bool') w.bool(it.v);
          else if (it.t === 'double') w.double(it.v);
          else if (it.t === 'int') w.int(it.v);
          else w.uint(it.v);
        }
        expect(w.length % 4).toBe(0);
        const r = new XdrReader(w.bytes());
        for (const it of items) {
          if (it.t === 'opaque') expect(Buffer.from(r.opaque()).equals(Buffer.from(it.v))).toBe(true);
          else if (it.t === 'string') expect(r.string()).toBe(Buffer.from(it.v, 'utf8').toString('utf8'));
          else if (it.t === 'hyper') expect(r.hyper()).toBe(it.v);
          else if (it.t === 'uhyper') expect(r.uhyper()).toBe(it.v);
          else if (it.t === 'bool') expect(r.bool()).toBe(it.v);
          else if (it.t === 'double') expect(Object.is(r.double(), it.v)).toBe(true);
          else if (it.t === 'int') expect(r.int()).toBe(it.v);
          else expect(r.uint()).toBe(it.v);
        }
        r.expectEnd();
      }),
    );
  });

  it('arbitrary and truncated bytes give a value or an XdrError, never anything else', () => {
    const ops: Array<(r: XdrReader) => unknown> = [
      (r) => r.int(),
      (r) => r.uint(),
      (r) => r.bool(),
      (r) => r.hyper(),
      (r) => r.uhyper(),
      (r) => r.uhyperNumber(),
      (r) => r.opaque(1024),
      (r) => r.string(255),
      (r) => r.fixedOpaque(13),
      (r) => r.array((x) => x.string(16), 100),
      (r) => r.optional((x) => x.uhyper()),
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat({ max: ops.length - 1 }), { maxLength: 12 }), (bytes, seq) => {
        const r = new XdrReader(Buffer.from(bytes));
        try {
          for (const i of seq) ops[i]!(r);
        } catch (err) {
          expect(err).toBeInstanceOf(XdrError);
        }
        expect(r.offset).toBeLessThanOrEqual(r.end);
      }),
      { numRuns: 2000 },
    );
  });
});
