/** RFC 1813 §3.3.3 LOOKUP: needs search (execute) permission on the directory. */
import { type Attr, FileType, FsError, FsErrorCode } from '@ferry/fs';
import { MAY_EXEC, mayAccess } from '../../permission';
import { checkName, type Nfs3Procedure, type NfsCallContext } from '../procedure';
import { fail, fattr3, NfsError, ok, readRes, type Res, writeRes } from '../result';
import {
  type Diropargs3,
  NfsStat3,
  type PostOpAttr,
  readDiropargs3,
  readNfsFh3,
  readPostOpAttr,
  writeDiropargs3,
  writeNfsFh3,
  writePostOpAttr,
} from '../xdr-types';

export interface LOOKUP3args {
  what: Diropargs3;
}
export interface LOOKUP3resok {
  object: Buffer;
  obj_attributes: PostOpAttr;
  dir_attributes: PostOpAttr;
}
export interface LOOKUP3resfail {
  dir_attributes: PostOpAttr;
}
export type LOOKUP3res = Res<LOOKUP3resok, LOOKUP3resfail>;

/** RFC 1813 §3.3.3: the object must be a directory the caller may search. */
function checkSearch(ctx: NfsCallContext, dir: Attr): void {
  if (dir.type !== FileType.DIR) throw new NfsError(NfsStat3.NFS3ERR_NOTDIR);
  if (!mayAccess(ctx.user, dir, MAY_EXEC)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
}

export const LOOKUP: Nfs3Procedure<LOOKUP3args, LOOKUP3res> = {
  proc: 3,
  name: 'LOOKUP',
  modifying: false,
  nonIdempotent: false,
  decodeArgs: (r) => ({ what: readDiropargs3(r) }),
  encodeArgs: (w, a) => writeDiropargs3(w, a.what),
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => {
        writeNfsFh3(x, v.object);
        writePostOpAttr(x, v.obj_attributes);
        writePostOpAttr(x, v.dir_attributes);
      },
      (x, v) => writePostOpAttr(x, v.dir_attributes),
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({ object: readNfsFh3(x), obj_attributes: readPostOpAttr(x), dir_attributes: readPostOpAttr(x) }),
      (x) => ({ dir_attributes: readPostOpAttr(x) }),
    ),
  handles: (a) => [a.what.dir],
  async run(ctx, a) {
    checkName(a.what.name);
    // The engine's lookup returns the directory's attributes with the entry, so the search
    // permission is checked on those rather than on a getattr of its own before the lookup.
    // A caller without search permission learns nothing of the entries either way: when the
    // lookup fails, NOTDIR and ACCES still come before what the lookup found (NOENT...).
    let r: { attr: Attr; dirAttr: Attr };
    try {
      r = await ctx.fs.lookup(ctx.file, a.what.name);
    } catch (err) {
      if (err instanceof FsError && err.code !== FsErrorCode.STALE) {
        const dir = err.wcc?.after ?? (await ctx.attr(0));
        ctx.remember(0, dir);
        checkSearch(ctx, dir);
      }
      throw err;
    }
    ctx.remember(0, r.dirAttr);
    checkSearch(ctx, r.dirAttr);
    return ok({
      object: ctx.handle({ ino: r.attr.ino, generation: r.attr.generation }),
      obj_attributes: fattr3(r.attr),
      dir_attributes: fattr3(r.dirAttr),
    });
  },
  fail: (status, info) => fail(status, { dir_attributes: info.attr }),
};
