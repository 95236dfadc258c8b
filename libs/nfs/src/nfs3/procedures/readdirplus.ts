/**
 * RFC 1813 §3.3.17 READDIRPLUS: READDIR with each entry's attributes and handle.
 *
 * Two budgets, both exact: `dircount` bounds the directory information alone (value_follows,
 * fileid, name, cookie of each entry: what the RFC says it counts), `maxcount` (capped at
 * maxIoBytes) bounds the whole READDIRPLUS3resok. The first entry that would break either
 * ends the reply; if none fits and more remain, NFS3ERR_TOOSMALL. The cookie verifier works as
 * in readdir.ts.
 */
import { FileType } from '@ferry/fs';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import { MAY_READ, mayAccess } from '../../permission';
import type { Nfs3Procedure } from '../procedure';
import { PLUS_UNKNOWN } from '../entry-plus';
import { fail, fattr3, NfsError, ok, readRes, type Res, writeRes } from '../result';
import {
  NFS3_FHSIZE,
  NfsStat3,
  type PostOpAttr,
  readFilename3,
  readNfsFh3,
  readPostOpAttr,
  readPostOpFh3,
  readVerf8,
  writeNfsFh3,
  writePostOpAttr,
  writePostOpFh3,
  writeVerf8,
} from '../xdr-types';
import { cookieVerfAcceptable, cookieVerfFor } from './common';
import { entry3Bytes, READDIR3_FIXED_BYTES, readEntryList } from './readdir';

export interface READDIRPLUS3args {
  dir: Buffer;
  cookie: bigint;
  cookieverf: Buffer;
  dircount: number;
  maxcount: number;
}
/** RFC 1813 §3.3.17 entryplus3. */
export interface Entryplus3 {
  fileid: bigint;
  name: string;
  cookie: bigint;
  name_attributes: PostOpAttr;
  name_handle: Buffer | undefined;
}
export interface READDIRPLUS3resok {
  dir_attributes: PostOpAttr;
  cookieverf: Buffer;
  entries: Entryplus3[];
  eof: boolean;
}
export interface READDIRPLUS3resfail {
  dir_attributes: PostOpAttr;
}
export type READDIRPLUS3res = Res<READDIRPLUS3resok, READDIRPLUS3resfail>;

/**
 * An entry as READDIRPLUS's handler makes it: name_attributes and name_handle already encoded
 * (`plus`, from EntryPlusCache or PLUS_UNKNOWN), so the reply copies them in one go. Reading
 * the two fields decodes them from those bytes, so what a test or tool sees is what is sent.
 */
export class EncodedEntryplus3 implements Entryplus3 {
  constructor(
    readonly fileid: bigint,
    readonly name: string,
    /** Buffer.byteLength(name, 'utf8'). */
    readonly nameLen: number,
    readonly cookie: bigint,
    readonly plus: Buffer,
  ) {}

  get name_attributes(): PostOpAttr {
    return readPostOpAttr(new XdrReader(this.plus));
  }

  get name_handle(): Buffer | undefined {
    const r = new XdrReader(this.plus);
    readPostOpAttr(r);
    return readPostOpFh3(r);
  }
}

/** The encoded tail of an entry given field by field (tests and tools; never the hot path). */
function plusOf(e: Entryplus3): Buffer {
  const fh = e.name_handle;
  if (fh !== undefined && fh.length > NFS3_FHSIZE) throw new Error(`file handle of ${fh.length} bytes over NFS3_FHSIZE`);
  const w = new XdrWriter();
  writePostOpAttr(w, e.name_attributes);
  writePostOpFh3(w, fh);
  return Buffer.from(w.bytes());
}

/**
 * The entry list (value_follows TRUE, then entryplus3, for each entry), written straight into
 * the writer's buffer after a single reserve, through a DataView: a reply carries ~100-200
 * entries, and per-field writer calls were most of its encoding cost. Names that are all ASCII
 * (byte length = string length) are copied by char code, the native string write costing ~4x
 * that for a short name. The bytes are those of the field-by-field codecs in xdr-types.ts,
 * which the golden and round-trip tests (xdr-codecs.test.ts) check.
 */
function writeEntryplus3List(x: XdrWriter, entries: readonly Entryplus3[]): void {
  const n = entries.length;
  const nameLens = new Array<number>(n);
  const pluses = new Array<Buffer>(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    let nameLen: number;
    let plus: Buffer;
    if (e instanceof EncodedEntryplus3) {
      nameLen = e.nameLen;
      plus = e.plus;
    } else {
      nameLen = Buffer.byteLength(e.name, 'utf8');
      plus = plusOf(e);
    }
    nameLens[i] = nameLen;
    pluses[i] = plus;
    total += 4 + 8 + 4 + ((nameLen + 3) & ~3) + 8 + plus.length;
  }
  x.reserve(total);
  const b = x.buf;
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  let o = x.length;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    const name = e.name;
    const nameLen = nameLens[i]!;
    dv.setUint32(o, 1);
    dv.setBigUint64(o + 4, e.fileid);
    dv.setUint32(o + 12, nameLen);
    o += 16;
    if (nameLen === name.length) {
      for (let j = 0; j < nameLen; j++) b[o + j] = name.charCodeAt(j);
    } else {
      b.write(name, o, 'utf8');
    }
    o += nameLen;
    for (let p = nameLen; (p & 3) !== 0; p++) b[o++] = 0;
    dv.setBigUint64(o, e.cookie);
    o += 8;
    const plus = pluses[i]!;
    b.set(plus, o);
    o += plus.length;
  }
  x.length = o;
}

export const READDIRPLUS: Nfs3Procedure<READDIRPLUS3args, READDIRPLUS3res> = {
  proc: 17,
  name: 'READDIRPLUS',
  modifying: false,
  nonIdempotent: false,
  decodeArgs: (r) => ({ dir: readNfsFh3(r), cookie: r.uhyper(), cookieverf: readVerf8(r), dircount: r.uint(), maxcount: r.uint() }),
  encodeArgs(w, a) {
    writeNfsFh3(w, a.dir);
    w.uhyper(a.cookie);
    writeVerf8(w, a.cookieverf);
    w.uint(a.dircount);
    w.uint(a.maxcount);
  },
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => {
        writePostOpAttr(x, v.dir_attributes);
        writeVerf8(x, v.cookieverf);
        writeEntryplus3List(x, v.entries);
        x.bool(false);
        x.bool(v.eof);
      },
      (x, v) => writePostOpAttr(x, v.dir_attributes),
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({
        dir_attributes: readPostOpAttr(x),
        cookieverf: readVerf8(x),
        entries: readEntryList(x, (y) => ({
          fileid: y.uhyper(),
          name: readFilename3(y),
          cookie: y.uhyper(),
          name_attributes: readPostOpAttr(y),
          name_handle: readPostOpFh3(y),
        })),
        eof: x.bool(),
      }),
      (x) => ({ dir_attributes: readPostOpAttr(x) }),
    ),
  handles: (a) => [a.dir],
  async run(ctx, a) {
    const dir = await ctx.attr(0);
    if (dir.type !== FileType.DIR) throw new NfsError(NfsStat3.NFS3ERR_NOTDIR);
    if (!mayAccess(ctx.user, dir, MAY_READ)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
    const verf = cookieVerfFor(dir);
    if (a.cookie !== 0n && !cookieVerfAcceptable(a.cookieverf, verf)) throw new NfsError(NfsStat3.NFS3ERR_BAD_COOKIE);
    const maxBytes = Math.min(a.maxcount, ctx.maxIoBytes);
    let used = READDIR3_FIXED_BYTES;
    let dirUsed = 0;
    const entries: EncodedEntryplus3[] = [];
    const r = await ctx.fs.readdir(ctx.file, a.cookie, true, (e) => {
      const nameLen = Buffer.byteLength(e.name, 'utf8');
      const dirBytes = entry3Bytes(nameLen);
      const plus = e.attr === undefined ? PLUS_UNKNOWN : ctx.entryPlus(e.attr);
      if (dirUsed + dirBytes > a.dircount || used + dirBytes + plus.length > maxBytes) return false;
      dirUsed += dirBytes;
      used += dirBytes + plus.length;
      entries.push(new EncodedEntryplus3(e.ino, e.name, nameLen, e.cookie, plus));
      return true;
    });
    ctx.remember(0, r.dirAttr);
    if (entries.length === 0 && !r.eof) throw new NfsError(NfsStat3.NFS3ERR_TOOSMALL);
    return ok({ dir_attributes: fattr3(r.dirAttr), cookieverf: verf, entries, eof: r.eof });
  },
  fail: (status, info) => fail(status, { dir_attributes: info.attr }),
};
