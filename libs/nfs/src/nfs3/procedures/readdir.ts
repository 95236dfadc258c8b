/**
 * RFC 1813 §3.3.16 READDIR.
 *
 * The reply never exceeds `count` (itself capped at maxIoBytes): each entry's exact XDR size is
 * added before it is accepted, starting from the fixed part of READDIR3resok. If not even one
 * entry fits and the directory has more, the answer is NFS3ERR_TOOSMALL.
 *
 * Cookie verifier: constant per directory (derived from its generation). The engine's cookies
 * stay valid across changes, so there is nothing to invalidate; a verifier that changed with
 * the directory would only make clients restart listings (Linux) or loop (macOS). A zero
 * verifier is always accepted; a non-zero one we did not give for this directory is
 * NFS3ERR_BAD_COOKIE.
 */
import { FileType } from '@ferry/fs';
import { MAY_READ, mayAccess } from '../../permission';
import type { Nfs3Procedure } from '../procedure';
import { fail, fattr3, NfsError, ok, readRes, type Res, writeRes } from '../result';
import { NfsStat3, type PostOpAttr, readFilename3, readNfsFh3, readPostOpAttr, readVerf8, writeNfsFh3, writePostOpAttr, writeVerf8 } from '../xdr-types';
import { cookieVerfAcceptable, cookieVerfFor, xdrOpaqueBytes } from './common';

export interface READDIR3args {
  dir: Buffer;
  cookie: bigint;
  cookieverf: Buffer;
  count: number;
}
/** RFC 1813 §3.3.16 entry3. */
export interface Entry3 {
  fileid: bigint;
  name: string;
  cookie: bigint;
}
export interface READDIR3resok {
  dir_attributes: PostOpAttr;
  cookieverf: Buffer;
  entries: Entry3[];
  eof: boolean;
}
export interface READDIR3resfail {
  dir_attributes: PostOpAttr;
}
export type READDIR3res = Res<READDIR3resok, READDIR3resfail>;

/** status + post_op_attr with attributes + cookieverf + end-of-list marker + eof. */
export const READDIR3_FIXED_BYTES = 4 + 4 + 84 + 8 + 4 + 4;

/** value_follows + fileid + name + cookie. */
export function entry3Bytes(nameBytes: number): number {
  return 4 + 8 + xdrOpaqueBytes(nameBytes) + 8;
}

/** Entries are an XDR linked list: value_follows TRUE before each, FALSE after the last. */
export function readEntryList<T>(r: Parameters<typeof readNfsFh3>[0], readEntry: (r: Parameters<typeof readNfsFh3>[0]) => T): T[] {
  const out: T[] = [];
  while (r.bool()) out.push(readEntry(r));
  return out;
}

export const READDIR: Nfs3Procedure<READDIR3args, READDIR3res> = {
  proc: 16,
  name: 'READDIR',
  modifying: false,
  nonIdempotent: false,
  decodeArgs: (r) => ({ dir: readNfsFh3(r), cookie: r.uhyper(), cookieverf: readVerf8(r), count: r.uint() }),
  encodeArgs(w, a) {
    writeNfsFh3(w, a.dir);
    w.uhyper(a.cookie);
    writeVerf8(w, a.cookieverf);
    w.uint(a.count);
  },
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => {
        writePostOpAttr(x, v.dir_attributes);
        writeVerf8(x, v.cookieverf);
        for (const e of v.entries) {
          x.bool(true);
          x.uhyper(e.fileid);
          x.string(e.name);
          x.uhyper(e.cookie);
        }
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
        entries: readEntryList(x, (y) => ({ fileid: y.uhyper(), name: readFilename3(y), cookie: y.uhyper() })),
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
    const limit = Math.min(a.count, ctx.maxIoBytes);
    let used = READDIR3_FIXED_BYTES;
    const entries: Entry3[] = [];
    const r = await ctx.fs.readdir(ctx.file, a.cookie, false, (e) => {
      const size = entry3Bytes(Buffer.byteLength(e.name, 'utf8'));
      if (used + size > limit) return false;
      used += size;
      entries.push({ fileid: e.ino, name: e.name, cookie: e.cookie });
      return true;
    });
    ctx.remember(0, r.dirAttr);
    if (entries.length === 0 && !r.eof) throw new NfsError(NfsStat3.NFS3ERR_TOOSMALL);
    return ok({ dir_attributes: fattr3(r.dirAttr), cookieverf: verf, entries, eof: r.eof });
  },
  fail: (status, info) => fail(status, { dir_attributes: info.attr }),
};
