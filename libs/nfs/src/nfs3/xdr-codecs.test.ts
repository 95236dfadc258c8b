/**
 * Goal: every NFSv3 XDR type and every procedure's args/res codec matches RFC 1813 byte for
 * byte, round-trips, and turns garbage or truncation into XdrError, never a crash.
 * Method: golden byte strings assembled by hand from the RFC layouts (not from our encoders),
 * then fast-check round trips, arbitrary bytes and strict prefixes for each codec.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XdrError, XdrReader, XdrWriter } from '@ferry/xdr';
import type { Nfs3Procedure } from './procedure';
import { NFS3_PROCEDURES } from './procedures';
import * as P from './procedures';
import {
  Createmode3,
  type Fattr3,
  Ftype3,
  NfsStat3,
  readFattr3,
  readSattr3,
  readWccData,
  type Sattr3,
  StableHow3,
  type Wcc_data,
  writeFattr3,
  writeSattr3,
  writeWccData,
} from './xdr-types';

// ---- hand-built bytes -----------------------------------------------------------------------
const u32 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');
const u64 = (n: bigint): string => n.toString(16).padStart(16, '0');
const str = (s: string): string => {
  const b = Buffer.from(s, 'utf8');
  return u32(b.length) + b.toString('hex') + '00'.repeat((4 - (b.length % 4)) % 4);
};
const T = 0x6553f100;
const FH = Buffer.from('a1b2c3d4e5', 'hex');
const FHX = u32(5) + 'a1b2c3d4e5000000';
const FH2 = Buffer.from('0102030405060708', 'hex');
const FH2X = u32(8) + '0102030405060708';
const VERF = Buffer.from('7665726631323334', 'hex');

const FATTR: Fattr3 = {
  type: Ftype3.NF3REG,
  mode: 0o644,
  nlink: 1,
  uid: 1000,
  gid: 100,
  size: 5n,
  used: 4096n,
  rdev: { specdata1: 0, specdata2: 0 },
  fsid: 7n,
  fileid: 42n,
  atime: { seconds: T, nseconds: 1 },
  mtime: { seconds: T, nseconds: 2 },
  ctime: { seconds: T, nseconds: 3 },
};
const FATTR_HEX =
  '00000001' + '000001a4' + '00000001' + '000003e8' + '00000064' + u64(5n) + u64(4096n) + '00000000' + '00000000' + u64(7n) + u64(42n) +
  u32(T) + '00000001' + u32(T) + '00000002' + u32(T) + '00000003';
const POST = '00000001' + FATTR_HEX;
const WCC: Wcc_data = { before: { size: 5n, mtime: { seconds: T, nseconds: 2 }, ctime: { seconds: T, nseconds: 3 } }, after: FATTR };
const WCC_HEX = '00000001' + u64(5n) + u32(T) + '00000002' + u32(T) + '00000003' + POST;
const NOWCC: Wcc_data = { before: undefined, after: undefined };
const NOWCC_HEX = '00000000' + '00000000';
const SATTR: Sattr3 = { mode: 0o755, size: 0n, mtime: 'server' };
const SATTR_HEX = '00000001' + '000001ed' + '00000000' + '00000000' + '00000001' + u64(0n) + '00000000' + '00000001';
const EMPTY_SATTR_HEX = '00000000'.repeat(6);

function encodeWith<T>(write: (w: XdrWriter, v: T) => void, v: T): string {
  const w = new XdrWriter(8);
  write(w, v);
  return w.bytes().toString('hex');
}

function decodeAll<T>(read: (r: XdrReader) => T, hex: string): T {
  const r = new XdrReader(Buffer.from(hex, 'hex'));
  const v = read(r);
  r.expectEnd();
  return v;
}

const LIMITS = { maxIoBytes: 1 << 20 };

describe('shared types: golden bytes', () => {
  it('fattr3 is 84 bytes in RFC order', () => {
    expect(FATTR_HEX.length / 2).toBe(84);
    expect(encodeWith(writeFattr3, FATTR)).toBe(FATTR_HEX);
    expect(decodeAll(readFattr3, FATTR_HEX)).toEqual(FATTR);
  });
  it('wcc_data is pre_op_attr then post_op_attr', () => {
    expect(encodeWith(writeWccData, WCC)).toBe(WCC_HEX);
    expect(decodeAll(readWccData, WCC_HEX)).toEqual(WCC);
    expect(encodeWith(writeWccData, NOWCC)).toBe(NOWCC_HEX);
  });
  it('sattr3 uses set_* discriminants and time_how', () => {
    expect(encodeWith(writeSattr3, SATTR)).toBe(SATTR_HEX);
    expect(decodeAll(readSattr3, SATTR_HEX)).toEqual(SATTR);
    const client: Sattr3 = { atime: { seconds: 1, nseconds: 2 } };
    const hex = '00000000'.repeat(4) + '00000002' + '00000001' + '00000002' + '00000000';
    expect(encodeWith(writeSattr3, client)).toBe(hex);
    expect(decodeAll(readSattr3, hex)).toEqual(client);
  });
  it('refuses a bad time_how and a bad ftype3', () => {
    expect(() => decodeAll(readSattr3, '00000000'.repeat(4) + '00000003')).toThrow(XdrError);
    expect(() => decodeAll(readFattr3, '00000009' + FATTR_HEX.slice(8))).toThrow(XdrError);
  });
});

// ---- per-procedure goldens -------------------------------------------------------------------
type AnyProc = Nfs3Procedure<any, any>;
interface Golden {
  spec: AnyProc;
  args: unknown;
  argsHex: string;
  res: unknown;
  resHex: string;
}

const E = (s: NfsStat3): string => u32(s);
const goldens: Golden[] = [
  { spec: P.GETATTR, args: { object: FH }, argsHex: FHX, res: { status: 0, resok: { obj_attributes: FATTR } }, resHex: '00000000' + FATTR_HEX },
  {
    spec: P.SETATTR,
    args: { object: FH, new_attributes: SATTR, guard: { seconds: T, nseconds: 3 } },
    argsHex: FHX + SATTR_HEX + '00000001' + u32(T) + '00000003',
    res: { status: NfsStat3.NFS3ERR_NOT_SYNC, resfail: { obj_wcc: WCC } },
    resHex: E(NfsStat3.NFS3ERR_NOT_SYNC) + WCC_HEX,
  },
  {
    spec: P.LOOKUP,
    args: { what: { dir: FH, name: 'hello.txt' } },
    argsHex: FHX + str('hello.txt'),
    res: { status: 0, resok: { object: FH2, obj_attributes: FATTR, dir_attributes: undefined } },
    resHex: '00000000' + FH2X + POST + '00000000',
  },
  {
    spec: P.ACCESS,
    args: { object: FH, access: 0x3f },
    argsHex: FHX + '0000003f',
    res: { status: 0, resok: { obj_attributes: FATTR, access: 0x1 } },
    resHex: '00000000' + POST + '00000001',
  },
  {
    spec: P.READLINK,
    args: { symlink: FH },
    argsHex: FHX,
    res: { status: 0, resok: { symlink_attributes: undefined, data: '../t' } },
    resHex: '00000000' + '00000000' + str('../t'),
  },
  {
    spec: P.READ,
    args: { file: FH, offset: 4096n, count: 512 },
    argsHex: FHX + u64(4096n) + u32(512),
    res: { status: 0, resok: { file_attributes: FATTR, count: 3, eof: true, data: Buffer.from('abc') } },
    resHex: '00000000' + POST + u32(3) + '00000001' + u32(3) + '61626300',
  },
  {
    spec: P.WRITE,
    args: { file: FH, offset: 1n, count: 5, stable: StableHow3.FILE_SYNC, data: Buffer.from('hello') },
    argsHex: FHX + u64(1n) + u32(5) + '00000002' + u32(5) + '68656c6c6f000000',
    res: { status: 0, resok: { file_wcc: WCC, count: 5, committed: StableHow3.FILE_SYNC, verf: VERF } },
    resHex: '00000000' + WCC_HEX + u32(5) + '00000002' + VERF.toString('hex'),
  },
  {
    spec: P.CREATE,
    args: { where: { dir: FH, name: 'f' }, how: { mode: Createmode3.EXCLUSIVE, verf: VERF } },
    argsHex: FHX + str('f') + '00000002' + VERF.toString('hex'),
    res: { status: 0, resok: { obj: FH2, obj_attributes: FATTR, dir_wcc: WCC } },
    resHex: '00000000' + '00000001' + FH2X + POST + WCC_HEX,
  },
  {
    spec: P.MKDIR,
    args: { where: { dir: FH, name: 'd' }, attributes: SATTR },
    argsHex: FHX + str('d') + SATTR_HEX,
    res: { status: NfsStat3.NFS3ERR_EXIST, resfail: { dir_wcc: WCC } },
    resHex: E(NfsStat3.NFS3ERR_EXIST) + WCC_HEX,
  },
  {
    spec: P.SYMLINK,
    args: { where: { dir: FH, name: 'l' }, symlink: { symlink_attributes: {}, symlink_data: '/x' } },
    argsHex: FHX + str('l') + EMPTY_SATTR_HEX + str('/x'),
    res: { status: 0, resok: { obj: undefined, obj_attributes: undefined, dir_wcc: NOWCC } },
    resHex: '00000000' + '00000000' + '00000000' + NOWCC_HEX,
  },
  {
    spec: P.MKNOD,
    args: { where: { dir: FH, name: 'c' }, what: { type: Ftype3.NF3CHR, dev_attributes: {}, spec: { specdata1: 1, specdata2: 3 } } },
    argsHex: FHX + str('c') + '00000004' + EMPTY_SATTR_HEX + '00000001' + '00000003',
    res: { status: NfsStat3.NFS3ERR_BADTYPE, resfail: { dir_wcc: NOWCC } },
    resHex: E(NfsStat3.NFS3ERR_BADTYPE) + NOWCC_HEX,
  },
  {
    spec: P.REMOVE,
    args: { object: { dir: FH, name: 'gone' } },
    argsHex: FHX + str('gone'),
    res: { status: 0, resok: { dir_wcc: WCC } },
    resHex: '00000000' + WCC_HEX,
  },
  {
    spec: P.RMDIR,
    args: { object: { dir: FH, name: 'sub' } },
    argsHex: FHX + str('sub'),
    res: { status: NfsStat3.NFS3ERR_NOTEMPTY, resfail: { dir_wcc: WCC } },
    resHex: E(NfsStat3.NFS3ERR_NOTEMPTY) + WCC_HEX,
  },
  {
    spec: P.RENAME,
    args: { from: { dir: FH, name: 'a' }, to: { dir: FH2, name: 'bb' } },
    argsHex: FHX + str('a') + FH2X + str('bb'),
    res: { status: 0, resok: { fromdir_wcc: WCC, todir_wcc: NOWCC } },
    resHex: '00000000' + WCC_HEX + NOWCC_HEX,
  },
  {
    spec: P.LINK,
    args: { file: FH, link: { dir: FH2, name: 'hard' } },
    argsHex: FHX + FH2X + str('hard'),
    res: { status: 0, resok: { file_attributes: FATTR, linkdir_wcc: WCC } },
    resHex: '00000000' + POST + WCC_HEX,
  },
  {
    spec: P.READDIR,
    args: { dir: FH, cookie: 0n, cookieverf: Buffer.alloc(8), count: 4096 },
    argsHex: FHX + u64(0n) + u64(0n) + u32(4096),
    res: { status: 0, resok: { dir_attributes: undefined, cookieverf: VERF, entries: [{ fileid: 2n, name: 'ab', cookie: 3n }], eof: true } },
    resHex: '00000000' + '00000000' + VERF.toString('hex') + '00000001' + u64(2n) + str('ab') + u64(3n) + '00000000' + '00000001',
  },
  {
    spec: P.READDIRPLUS,
    args: { dir: FH, cookie: 3n, cookieverf: VERF, dircount: 512, maxcount: 8192 },
    argsHex: FHX + u64(3n) + VERF.toString('hex') + u32(512) + u32(8192),
    res: {
      status: 0,
      resok: { dir_attributes: FATTR, cookieverf: VERF, entries: [{ fileid: 42n, name: 'x', cookie: 4n, name_attributes: FATTR, name_handle: FH2 }], eof: false },
    },
    resHex:
      '00000000' + POST + VERF.toString('hex') + '00000001' + u64(42n) + str('x') + u64(4n) + POST + '00000001' + FH2X + '00000000' + '00000000',
  },
  {
    spec: P.FSSTAT,
    args: { fsroot: FH },
    argsHex: FHX,
    res: { status: 0, resok: { obj_attributes: undefined, tbytes: 100n, fbytes: 50n, abytes: 40n, tfiles: 10n, ffiles: 5n, afiles: 4n, invarsec: 0 } },
    resHex: '00000000' + '00000000' + u64(100n) + u64(50n) + u64(40n) + u64(10n) + u64(5n) + u64(4n) + u32(0),
  },
  {
    spec: P.FSINFO,
    args: { fsroot: FH },
    argsHex: FHX,
    res: {
      status: 0,
      resok: {
        obj_attributes: undefined,
        rtmax: 1 << 20,
        rtpref: 1 << 20,
        rtmult: 4096,
        wtmax: 1 << 20,
        wtpref: 1 << 20,
        wtmult: 4096,
        dtpref: 65536,
        maxfilesize: 1n << 40n,
        time_delta: { seconds: 0, nseconds: 1 },
        properties: 0x1b,
      },
    },
    resHex:
      '00000000' + '00000000' + '00100000' + '00100000' + '00001000' + '00100000' + '00100000' + '00001000' + '00010000' + u64(1n << 40n) +
      '00000000' + '00000001' + '0000001b',
  },
  {
    spec: P.PATHCONF,
    args: { object: FH },
    argsHex: FHX,
    res: {
      status: 0,
      resok: { obj_attributes: undefined, linkmax: 32000, name_max: 255, no_trunc: true, chown_restricted: true, case_insensitive: false, case_preserving: true },
    },
    resHex: '00000000' + '00000000' + u32(32000) + u32(255) + '00000001' + '00000001' + '00000000' + '00000001',
  },
  {
    spec: P.COMMIT,
    args: { file: FH, offset: 0n, count: 0 },
    argsHex: FHX + u64(0n) + u32(0),
    res: { status: NfsStat3.NFS3ERR_IO, resfail: { file_wcc: NOWCC } },
    resHex: E(NfsStat3.NFS3ERR_IO) + NOWCC_HEX,
  },
];

describe('procedures: golden bytes', () => {
  it('covers every procedure', () => {
    expect(goldens.map((g) => g.spec.name).sort()).toEqual(
      NFS3_PROCEDURES.filter((p) => p !== undefined)
        .map((p) => p.name)
        .sort(),
    );
  });
  for (const g of goldens) {
    it(`${g.spec.name} args and res`, () => {
      expect(encodeWith(g.spec.encodeArgs, g.args)).toBe(g.argsHex);
      expect(decodeAll((r) => g.spec.decodeArgs(r, LIMITS), g.argsHex)).toEqual(g.args);
      expect(encodeWith(g.spec.encodeRes, g.res)).toBe(g.resHex);
      expect(decodeAll(g.spec.decodeRes, g.resHex)).toEqual(g.res);
    });
  }

  it('refuses WRITE whose data length differs from count, or over maxIoBytes', () => {
    const hex = FHX + u64(0n) + u32(4) + '00000000' + u32(5) + '68656c6c6f000000';
    expect(() => decodeAll((r) => P.WRITE.decodeArgs(r, LIMITS), hex)).toThrow(XdrError);
    const big = FHX + u64(0n) + u32(8192) + '00000000' + u32(8192) + '00'.repeat(8192);
    expect(() => decodeAll((r) => P.WRITE.decodeArgs(r, { maxIoBytes: 4096 }), big)).toThrow(XdrError);
  });

  it('refuses handles over 64 bytes and names over 1024 bytes', () => {
    expect(() => decodeAll((r) => P.GETATTR.decodeArgs(r, LIMITS), u32(65) + '00'.repeat(68))).toThrow(XdrError);
    expect(() => decodeAll((r) => P.LOOKUP.decodeArgs(r, LIMITS), FHX + str('a'.repeat(1025)))).toThrow(XdrError);
  });
});

// ---- properties -------------------------------------------------------------------------------
const u32A = fc.integer({ min: 0, max: 0xffffffff });
const u64A = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const timeA = fc.record({ seconds: u32A, nseconds: u32A });
const fhA = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));
const nameA = fc.string({ maxLength: 40, unit: 'grapheme' });
const verfA = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b));
const boolA = fc.boolean();
const fattrA: fc.Arbitrary<Fattr3> = fc.record({
  type: fc.integer({ min: 1, max: 7 }),
  mode: u32A,
  nlink: u32A,
  uid: u32A,
  gid: u32A,
  size: u64A,
  used: u64A,
  rdev: fc.record({ specdata1: u32A, specdata2: u32A }),
  fsid: u64A,
  fileid: u64A,
  atime: timeA,
  mtime: timeA,
  ctime: timeA,
});
const postA = fc.option(fattrA, { nil: undefined });
const wccA: fc.Arbitrary<Wcc_data> = fc.record({
  before: fc.option(fc.record({ size: u64A, mtime: timeA, ctime: timeA }), { nil: undefined }),
  after: postA,
});
const setTimeA = fc.oneof(timeA, fc.constant('server' as const));
const sattrA: fc.Arbitrary<Sattr3> = fc.record({ mode: u32A, uid: u32A, gid: u32A, size: u64A, atime: setTimeA, mtime: setTimeA }, { requiredKeys: [] });
const dirop = fc.record({ dir: fhA, name: nameA });
const errA = fc.constantFrom(...(Object.values(NfsStat3).filter((v) => typeof v === 'number' && v !== 0) as NfsStat3[]));
const res = <Ok, Fail>(ok: fc.Arbitrary<Ok>, fail: fc.Arbitrary<Fail>): fc.Arbitrary<unknown> =>
  fc.oneof(
    ok.map((resok) => ({ status: NfsStat3.NFS3_OK, resok })),
    fc.record({ status: errA, resfail: fail }),
  );
const diropres = res(fc.record({ obj: fc.option(fhA, { nil: undefined }), obj_attributes: postA, dir_wcc: wccA }), fc.record({ dir_wcc: wccA }));
const dirWcc = fc.record({ dir_wcc: wccA });
const objAttr = fc.record({ obj_attributes: postA });
const entryA = fc.record({ fileid: u64A, name: nameA, cookie: u64A });

const props: Array<{ spec: AnyProc; args: fc.Arbitrary<unknown>; res: fc.Arbitrary<unknown> }> = [
  { spec: P.GETATTR, args: fc.record({ object: fhA }), res: res(fc.record({ obj_attributes: fattrA }), fc.constant(undefined)) },
  {
    spec: P.SETATTR,
    args: fc.record({ object: fhA, new_attributes: sattrA, guard: fc.option(timeA, { nil: undefined }) }),
    res: res(fc.record({ obj_wcc: wccA }), fc.record({ obj_wcc: wccA })),
  },
  {
    spec: P.LOOKUP,
    args: fc.record({ what: dirop }),
    res: res(fc.record({ object: fhA, obj_attributes: postA, dir_attributes: postA }), fc.record({ dir_attributes: postA })),
  },
  { spec: P.ACCESS, args: fc.record({ object: fhA, access: u32A }), res: res(fc.record({ obj_attributes: postA, access: u32A }), objAttr) },
  {
    spec: P.READLINK,
    args: fc.record({ symlink: fhA }),
    res: res(fc.record({ symlink_attributes: postA, data: nameA }), fc.record({ symlink_attributes: postA })),
  },
  {
    spec: P.READ,
    args: fc.record({ file: fhA, offset: u64A, count: u32A }),
    res: res(
      fc.record({ file_attributes: postA, count: u32A, eof: boolA, data: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) }),
      fc.record({ file_attributes: postA }),
    ),
  },
  {
    spec: P.WRITE,
    args: fc
      .record({ file: fhA, offset: u64A, stable: fc.constantFrom(0, 1, 2), data: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) })
      .map((a) => ({ ...a, count: a.data.length })),
    res: res(fc.record({ file_wcc: wccA, count: u32A, committed: fc.constantFrom(0, 1, 2), verf: verfA }), fc.record({ file_wcc: wccA })),
  },
  {
    spec: P.CREATE,
    args: fc.record({
      where: dirop,
      how: fc.oneof(
        fc.record({ mode: fc.constantFrom(Createmode3.UNCHECKED, Createmode3.GUARDED), obj_attributes: sattrA }),
        fc.record({ mode: fc.constant(Createmode3.EXCLUSIVE), verf: verfA }),
      ),
    }),
    res: diropres,
  },
  { spec: P.MKDIR, args: fc.record({ where: dirop, attributes: sattrA }), res: diropres },
  { spec: P.SYMLINK, args: fc.record({ where: dirop, symlink: fc.record({ symlink_attributes: sattrA, symlink_data: nameA }) }), res: diropres },
  {
    spec: P.MKNOD,
    args: fc.record({
      where: dirop,
      what: fc.oneof(
        fc.record({ type: fc.constantFrom(Ftype3.NF3CHR, Ftype3.NF3BLK), dev_attributes: sattrA, spec: fc.record({ specdata1: u32A, specdata2: u32A }) }),
        fc.record({ type: fc.constantFrom(Ftype3.NF3SOCK, Ftype3.NF3FIFO), pipe_attributes: sattrA }),
        fc.record({ type: fc.constantFrom(Ftype3.NF3REG, Ftype3.NF3DIR, Ftype3.NF3LNK) }),
      ),
    }),
    res: diropres,
  },
  { spec: P.REMOVE, args: fc.record({ object: dirop }), res: res(dirWcc, dirWcc) },
  { spec: P.RMDIR, args: fc.record({ object: dirop }), res: res(dirWcc, dirWcc) },
  {
    spec: P.RENAME,
    args: fc.record({ from: dirop, to: dirop }),
    res: res(fc.record({ fromdir_wcc: wccA, todir_wcc: wccA }), fc.record({ fromdir_wcc: wccA, todir_wcc: wccA })),
  },
  {
    spec: P.LINK,
    args: fc.record({ file: fhA, link: dirop }),
    res: res(fc.record({ file_attributes: postA, linkdir_wcc: wccA }), fc.record({ file_attributes: postA, linkdir_wcc: wccA })),
  },
  {
    spec: P.READDIR,
    args: fc.record({ dir: fhA, cookie: u64A, cookieverf: verfA, count: u32A }),
    res: res(fc.record({ dir_attributes: postA, cookieverf: verfA, entries: fc.array(entryA, { maxLength: 5 }), eof: boolA }), fc.record({ dir_attributes: postA })),
  },
  {
    spec: P.READDIRPLUS,
    args: fc.record({ dir: fhA, cookie: u64A, cookieverf: verfA, dircount: u32A, maxcount: u32A }),
    res: res(
      fc.record({
        dir_attributes: postA,
        cookieverf: verfA,
        entries: fc.array(
          fc.record({ fileid: u64A, name: nameA, cookie: u64A, name_attributes: postA, name_handle: fc.option(fhA, { nil: undefined }) }),
          { maxLength: 4 },
        ),
        eof: boolA,
      }),
      fc.record({ dir_attributes: postA }),
    ),
  },
  {
    spec: P.FSSTAT,
    args: fc.record({ fsroot: fhA }),
    res: res(fc.record({ obj_attributes: postA, tbytes: u64A, fbytes: u64A, abytes: u64A, tfiles: u64A, ffiles: u64A, afiles: u64A, invarsec: u32A }), objAttr),
  },
  {
    spec: P.FSINFO,
    args: fc.record({ fsroot: fhA }),
    res: res(
      fc.record({
        obj_attributes: postA,
        rtmax: u32A,
        rtpref: u32A,
        rtmult: u32A,
        wtmax: u32A,
        wtpref: u32A,
        wtmult: u32A,
        dtpref: u32A,
        maxfilesize: u64A,
        time_delta: timeA,
        properties: u32A,
      }),
      objAttr,
    ),
  },
  {
    spec: P.PATHCONF,
    args: fc.record({ object: fhA }),
    res: res(
      fc.record({ obj_attributes: postA, linkmax: u32A, name_max: u32A, no_trunc: boolA, chown_restricted: boolA, case_insensitive: boolA, case_preserving: boolA }),
      objAttr,
    ),
  },
  { spec: P.COMMIT, args: fc.record({ file: fhA, offset: u64A, count: u32A }), res: res(fc.record({ file_wcc: wccA, verf: verfA }), fc.record({ file_wcc: wccA })) },
];

function bytesOf(write: (w: XdrWriter, v: unknown) => void, v: unknown): Buffer {
  const w = new XdrWriter(16);
  write(w, v);
  return Buffer.from(w.bytes());
}

function decodesCleanly(read: (r: XdrReader) => unknown, bytes: Buffer): void {
  try {
    const r = new XdrReader(bytes);
    read(r);
    r.expectEnd();
  } catch (err) {
    expect(err).toBeInstanceOf(XdrError);
  }
}

describe('procedures: properties', () => {
  it('covers every procedure', () => {
    expect(props).toHaveLength(21);
  });
  for (const p of props) {
    const readArgs = (r: XdrReader): unknown => p.spec.decodeArgs(r, LIMITS);
    it(`${p.spec.name}: decode(encode(x)) = x for args and res`, () => {
      fc.assert(
        fc.property(p.args, p.res, (a, r) => {
          expect(decodeAll(readArgs, bytesOf(p.spec.encodeArgs, a).toString('hex'))).toEqual(a);
          expect(decodeAll(p.spec.decodeRes, bytesOf(p.spec.encodeRes, r).toString('hex'))).toEqual(r);
        }),
        { numRuns: 60 },
      );
    });
    it(`${p.spec.name}: arbitrary and truncated bytes give a value or an XdrError`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
          decodesCleanly(readArgs, Buffer.from(b));
          decodesCleanly(p.spec.decodeRes, Buffer.from(b));
        }),
        { numRuns: 150 },
      );
      fc.assert(
        fc.property(p.args, p.res, fc.nat(), (a, r, cut) => {
          for (const [write, read] of [
            [p.spec.encodeArgs, readArgs],
            [p.spec.encodeRes, p.spec.decodeRes],
          ] as const) {
            const full = bytesOf(write, a === undefined ? r : write === p.spec.encodeArgs ? a : r);
            if (full.length === 0) continue;
            const prefix = full.subarray(0, cut % full.length);
            expect(() => read(new XdrReader(prefix))).toThrow(XdrError);
          }
        }),
        { numRuns: 60 },
      );
    });
  }
});
