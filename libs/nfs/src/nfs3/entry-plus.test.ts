/**
 * Goal: the READDIRPLUS fast path sends exactly the bytes of the field-by-field codecs, and its
 * cache never answers with the encoding of other attributes or another filesystem.
 * Method: fast-check over arbitrary engine attributes, compared with writeFattr3(fattr3(a)) and
 * writePostOpAttr/writePostOpFh3; whole reply lists compared between encoded and plain entries.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Attr, FileType } from '@ferry/fs';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import { FileHandleCodec } from '../file-handle';
import { EncodedEntryplus3, type Entryplus3, READDIRPLUS, type READDIRPLUS3res } from './procedures/readdirplus';
import { encodeFattr3At, EntryPlusCache, PLUS_KNOWN_BYTES, PLUS_UNKNOWN } from './entry-plus';
import { fattr3 } from './result';
import { writeFattr3, writePostOpAttr, writePostOpFh3 } from './xdr-types';

const u32A = fc.integer({ min: 0, max: 0xffffffff });
const u64A = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const timeA = fc.record({ sec: u32A, nsec: fc.integer({ min: 0, max: 999_999_999 }) });
const attrA: fc.Arbitrary<Attr> = fc.record({
  type: fc.constantFrom(FileType.REG, FileType.DIR, FileType.LNK, FileType.BLK, FileType.CHR, FileType.SOCK, FileType.FIFO),
  mode: fc.integer({ min: 0, max: 0o177777 }),
  nlink: u32A,
  uid: u32A,
  gid: u32A,
  size: u64A,
  used: u64A,
  rdevMajor: u32A,
  rdevMinor: u32A,
  fsid: u64A,
  ino: u64A,
  generation: u32A,
  atime: timeA,
  mtime: timeA,
  ctime: timeA,
});
const KEY = Buffer.alloc(32, 7);

function plain(fsid: bigint, a: Attr, codec: FileHandleCodec): Buffer {
  const w = new XdrWriter();
  writePostOpAttr(w, fattr3(a));
  writePostOpFh3(w, codec.encode(fsid, { ino: a.ino, generation: a.generation }));
  return Buffer.from(w.bytes());
}

describe('READDIRPLUS entry encoding', () => {
  it('encodeFattr3At writes the bytes of writeFattr3(fattr3(a))', () => {
    fc.assert(
      fc.property(attrA, fc.integer({ min: 0, max: 13 }), (a, at) => {
        const w = new XdrWriter();
        writeFattr3(w, fattr3(a));
        const b = Buffer.alloc(at + 84 + 5, 0xee);
        encodeFattr3At(new DataView(b.buffer, b.byteOffset, b.length), at, a);
        expect(b.subarray(at, at + 84).equals(Buffer.from(w.bytes()))).toBe(true);
        expect(b.subarray(0, at).every((x) => x === 0xee) && b.subarray(at + 84).every((x) => x === 0xee)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('the cache answers the attributes and handle of the object asked, per filesystem', () => {
    const codec = new FileHandleCodec(KEY);
    const cache = new EntryPlusCache(codec);
    fc.assert(
      fc.property(attrA, u64A, u64A, (a, fsid, otherFsid) => {
        const first = cache.of(fsid, a);
        expect(first.length).toBe(PLUS_KNOWN_BYTES);
        expect(first.equals(plain(fsid, a, codec))).toBe(true);
        expect(cache.of(fsid, a)).toBe(first); // the same object: served from the cache
        // A changed file is a new object (api.ts Attr): never the old bytes.
        const changed: Attr = { ...a, size: a.size ^ 1n, mtime: { sec: a.mtime.sec, nsec: (a.mtime.nsec + 1) % 1_000_000_000 } };
        expect(cache.of(fsid, changed).equals(plain(fsid, changed, codec))).toBe(true);
        // The same object asked for another filesystem gets that filesystem's handle.
        expect(cache.of(otherFsid, a).equals(plain(otherFsid, a, codec))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('an encoded entry reads back as its fields and is sent as the plain entry is', () => {
    const codec = new FileHandleCodec(KEY);
    const cache = new EntryPlusCache(codec);
    const entryA = fc.record({
      fileid: u64A,
      name: fc.string({ maxLength: 40, unit: 'grapheme' }),
      cookie: u64A,
      attr: fc.option(attrA, { nil: undefined }),
      fsid: u64A,
    });
    fc.assert(
      fc.property(fc.array(entryA, { maxLength: 12 }), fc.boolean(), (list, eof) => {
        const encoded = list.map(
          (e) => new EncodedEntryplus3(e.fileid, e.name, Buffer.byteLength(e.name, 'utf8'), e.cookie, e.attr === undefined ? PLUS_UNKNOWN : cache.of(e.fsid, e.attr)),
        );
        const fields: Entryplus3[] = list.map((e) => ({
          fileid: e.fileid,
          name: e.name,
          cookie: e.cookie,
          name_attributes: e.attr === undefined ? undefined : fattr3(e.attr),
          name_handle: e.attr === undefined ? undefined : codec.encode(e.fsid, { ino: e.attr.ino, generation: e.attr.generation }),
        }));
        for (let i = 0; i < list.length; i++) {
          expect(encoded[i]!.name_attributes).toEqual(fields[i]!.name_attributes);
          expect(encoded[i]!.name_handle).toEqual(fields[i]!.name_handle);
        }
        const bytes = (entries: Entryplus3[]): Buffer => {
          const res: READDIRPLUS3res = { status: 0, resok: { dir_attributes: undefined, cookieverf: Buffer.alloc(8), entries, eof } };
          const w = new XdrWriter();
          READDIRPLUS.encodeRes(w, res);
          return Buffer.from(w.bytes());
        };
        const a = bytes(encoded);
        expect(a.equals(bytes(fields))).toBe(true);
        const back = READDIRPLUS.decodeRes(new XdrReader(a));
        expect(back.status === 0 && back.resok.entries.map((e) => e.name)).toEqual(list.map((e) => e.name));
      }),
      { numRuns: 200 },
    );
  });
});
