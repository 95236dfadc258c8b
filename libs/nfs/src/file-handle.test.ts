/**
 * Goal: file handles have the documented layout (FORMAT.md), round-trip, and any change to
 * their bytes is refused. Method: a golden handle built by hand from the layout and a fixed
 * key, plus fast-check over ids and single-byte corruptions.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FH_FSID_OFFSET, FH_LENGTH, FileHandleCodec, peekHandleFsid } from './file-handle';

const KEY = Buffer.alloc(32, 0x5a);

describe('file handle', () => {
  it('matches the golden layout', () => {
    const fh = new FileHandleCodec(KEY).encode(0x0102030405060708n, { ino: 0x1112131415161718n, generation: 0x21222324 });
    const body = Buffer.from('01000000' + '0102030405060708' + '1112131415161718' + '21222324', 'hex');
    const mac = createHmac('sha256', KEY).update(body).digest().subarray(0, 16);
    expect(fh.toString('hex')).toBe(Buffer.concat([body, mac]).toString('hex'));
    expect(fh.length).toBe(40);
    expect(FH_FSID_OFFSET).toBe(4);
    expect(peekHandleFsid(fh)).toBe(0x0102030405060708n);
  });

  it('round-trips and refuses every single-byte change and other lengths', () => {
    const codec = new FileHandleCodec(KEY);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: FH_LENGTH - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (fsid, ino, generation, at, xor) => {
          const fh = codec.encode(fsid, { ino, generation });
          expect(codec.decode(fh)).toEqual({ fsid, file: { ino, generation } });
          const bad = Buffer.from(fh);
          bad[at] = (bad[at] as number) ^ xor;
          expect(codec.decode(bad)).toBe('bad');
          expect(codec.decode(fh.subarray(0, at))).toBe('bad');
          expect(codec.decode(Buffer.concat([fh, Buffer.alloc(1)]))).toBe('bad');
        },
      ),
    );
  });

  it('mints the same bytes from its cache as a fresh codec, past the cache bound', () => {
    const cached = new FileHandleCodec(KEY, 4);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 10; i++) {
        const file = { ino: BigInt(i), generation: i % 3 };
        const fresh = new FileHandleCodec(KEY, 4).encode(7n, file);
        expect(cached.encode(7n, file)).toEqual(fresh);
        expect(cached.encode(8n, file)).not.toEqual(fresh); // the fsid is part of the key
      }
    }
  });

  it('by default keeps the handles of a 20,000-file walk: a second walk mints nothing', () => {
    // READDIRPLUS mints a handle per entry; a cache smaller than the walked set (FIFO) would
    // miss on every entry of a repeated walk and pay an HMAC each time.
    const codec = new FileHandleCodec(KEY);
    const first = Array.from({ length: 20_000 }, (_, i) => codec.encode(1n, { ino: BigInt(i + 2), generation: 1 }));
    for (let i = 0; i < first.length; i++) expect(codec.encode(1n, { ino: BigInt(i + 2), generation: 1 })).toBe(first[i]);
  });

  it('decodes handles whose cache slots collide, each as itself', () => {
    // The verified cache is indexed by 30 bits of the MAC; find two real handles sharing them
    // (a birthday search, some 2^15 mints) and decode them alternately.
    const codec = new FileHandleCodec(KEY);
    const seen = new Map<number, bigint>();
    let pair: [bigint, bigint] | undefined;
    for (let ino = 0n; pair === undefined; ino++) {
      const slot = new FileHandleCodec(KEY, 1).encode(1n, { ino, generation: 0 }).readUInt32BE(24) & 0x3fff_ffff;
      const other = seen.get(slot);
      if (other !== undefined) pair = [other, ino];
      else seen.set(slot, ino);
    }
    const [a, b] = pair.map((ino) => Buffer.from(codec.encode(1n, { ino, generation: 0 })));
    for (let i = 0; i < 3; i++) {
      expect(codec.decode(a!)).toEqual({ fsid: 1n, file: { ino: pair[0], generation: 0 } });
      expect(codec.decode(b!)).toEqual({ fsid: 1n, file: { ino: pair[1], generation: 0 } });
      const forged = Buffer.from(a!);
      forged[FH_LENGTH - 1] = forged[FH_LENGTH - 1]! ^ 1; // same slot as a, MAC no longer right
      expect(codec.decode(forged)).toBe('bad');
    }
  });

  it('refuses handles minted under another key', () => {
    const other = new FileHandleCodec(Buffer.alloc(32, 1)).encode(1n, { ino: 2n, generation: 3 });
    expect(new FileHandleCodec(KEY).decode(other)).toBe('bad');
    expect(() => new FileHandleCodec(Buffer.alloc(16))).toThrow();
  });
});
