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
import type { XdrWriter } from '@ferry/xdr';
import { FH_LENGTH } from '../../file-handle';
import { MAY_READ, mayAccess } from '../../permission';
import type { Nfs3Procedure } from '../procedure';
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
  writeVerf8,
} from '../xdr-types';
import { cookieVerfAcceptable, cookieVerfFor, xdrOpaqueBytes } from './common';
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
 * The entry list (value_follows TRUE, then entryplus3, for each entry), written straight into
 * the writer's buffer after a single reserve, through a DataView: a reply carries ~100-200
 * entries, and per-field writer calls (Buffer.writeBigUInt64BE is ~10x a DataView store) were
 * most of its encoding cost. The bytes are those of the field-by-field codecs in xdr-types.ts,
 * which the golden and round-trip tests (xdr-codecs.test.ts) check.
 */
function writeEntryplus3List(x: XdrWriter, entries: readonly Entryplus3[]): void {
  let total = 0;
  const nameLens = new Array<number>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const nameLen = Buffer.byteLength(e.name, 'utf8');
    nameLens[i] = nameLen;
    const fh = e.name_handle;
    if (fh !== undefined && fh.length > NFS3_FHSIZE) throw new Error(`file handle of ${fh.length} bytes over NFS3_FHSIZE`);
    total += 4 + 8 + 4 + ((nameLen + 3) & ~3) + 8 + 4 + (e.name_attributes === undefined ? 0 : 84) + 4 + (fh === undefined ? 0 : 4 + ((fh.length + 3) & ~3));
  }
  x.reserve(total);
  const b = x.buf;
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  let o = x.length;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const nameLen = nameLens[i]!;
    dv.setUint32(o, 1);
    dv.setBigUint64(o + 4, e.fileid);
    dv.setUint32(o + 12, nameLen);
    b.write(e.name, o + 16, 'utf8');
    o += 16 + nameLen;
    for (let p = nameLen; (p & 3) !== 0; p++) b[o++] = 0;
    dv.setBigUint64(o, e.cookie);
    o += 8;
    const a = e.name_attributes;
    if (a === undefined) {
      dv.setUint32(o, 0);
      o += 4;
    } else {
      dv.setUint32(o, 1);
      dv.setInt32(o + 4, a.type);
      dv.setUint32(o + 8, a.mode >>> 0);
      dv.setUint32(o + 12, a.nlink >>> 0);
      dv.setUint32(o + 16, a.uid >>> 0);
      dv.setUint32(o + 20, a.gid >>> 0);
      dv.setBigUint64(o + 24, a.size);
      dv.setBigUint64(o + 32, a.used);
      dv.setUint32(o + 40, a.rdev.specdata1 >>> 0);
      dv.setUint32(o + 44, a.rdev.specdata2 >>> 0);
      dv.setBigUint64(o + 48, a.fsid);
      dv.setBigUint64(o + 56, a.fileid);
      dv.setUint32(o + 64, a.atime.seconds >>> 0);
      dv.setUint32(o + 68, a.atime.nseconds >>> 0);
      dv.setUint32(o + 72, a.mtime.seconds >>> 0);
      dv.setUint32(o + 76, a.mtime.nseconds >>> 0);
      dv.setUint32(o + 80, a.ctime.seconds >>> 0);
      dv.setUint32(o + 84, a.ctime.nseconds >>> 0);
      o += 88;
    }
    const fh = e.name_handle;
    if (fh === undefined) {
      dv.setUint32(o, 0);
      o += 4;
    } else {
      dv.setUint32(o, 1);
      dv.setUint32(o + 4, fh.length);
      b.set(fh, o + 8);
      o += 8 + fh.length;
      for (let p = fh.length; (p & 3) !== 0; p++) b[o++] = 0;
    }
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
    const entries: Entryplus3[] = [];
    const r = await ctx.fs.readdir(ctx.file, a.cookie, true, (e) => {
      const dirBytes = entry3Bytes(Buffer.byteLength(e.name, 'utf8'));
      // post_op_attr and post_op_fh3: a bool each, then the attributes and handle when known.
      const plusBytes = e.attr === undefined ? 8 : 8 + 84 + xdrOpaqueBytes(FH_LENGTH);
      if (dirUsed + dirBytes > a.dircount || used + dirBytes + plusBytes > maxBytes) return false;
      dirUsed += dirBytes;
      used += dirBytes + plusBytes;
      entries.push({
        fileid: e.ino,
        name: e.name,
        cookie: e.cookie,
        name_attributes: e.attr === undefined ? undefined : fattr3(e.attr),
        name_handle: e.attr === undefined ? undefined : ctx.handle({ ino: e.attr.ino, generation: e.attr.generation }),
      });
      return true;
    });
    ctx.remember(0, r.dirAttr);
    if (entries.length === 0 && !r.eof) throw new NfsError(NfsStat3.NFS3ERR_TOOSMALL);
    return ok({ dir_attributes: fattr3(r.dirAttr), cookieverf: verf, entries, eof: r.eof });
  },
  fail: (status, info) => fail(status, { dir_attributes: info.attr }),
};
