/** RFC 1813 §3.3.18 FSSTAT: space and inode counts from the engine; invarsec 0 (they change). */
import type { Nfs3Procedure } from '../procedure';
import { fail, fattr3, ok, readRes, type Res, writeRes } from '../result';
import { type PostOpAttr, readNfsFh3, readPostOpAttr, writeNfsFh3, writePostOpAttr } from '../xdr-types';

export interface FSSTAT3args {
  fsroot: Buffer;
}
export interface FSSTAT3resok {
  obj_attributes: PostOpAttr;
  tbytes: bigint;
  fbytes: bigint;
  abytes: bigint;
  tfiles: bigint;
  ffiles: bigint;
  afiles: bigint;
  invarsec: number;
}
export interface FSSTAT3resfail {
  obj_attributes: PostOpAttr;
}
export type FSSTAT3res = Res<FSSTAT3resok, FSSTAT3resfail>;

export const FSSTAT: Nfs3Procedure<FSSTAT3args, FSSTAT3res> = {
  proc: 18,
  name: 'FSSTAT',
  modifying: false,
  nonIdempotent: false,
  decodeArgs: (r) => ({ fsroot: readNfsFh3(r) }),
  encodeArgs: (w, a) => writeNfsFh3(w, a.fsroot),
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => {
        writePostOpAttr(x, v.obj_attributes);
        x.uhyper(v.tbytes).uhyper(v.fbytes).uhyper(v.abytes);
        x.uhyper(v.tfiles).uhyper(v.ffiles).uhyper(v.afiles);
        x.uint(v.invarsec);
      },
      (x, v) => writePostOpAttr(x, v.obj_attributes),
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({
        obj_attributes: readPostOpAttr(x),
        tbytes: x.uhyper(),
        fbytes: x.uhyper(),
        abytes: x.uhyper(),
        tfiles: x.uhyper(),
        ffiles: x.uhyper(),
        afiles: x.uhyper(),
        invarsec: x.uint(),
      }),
      (x) => ({ obj_attributes: readPostOpAttr(x) }),
    ),
  handles: (a) => [a.fsroot],
  async run(ctx) {
    const attr = await ctx.attr(0);
    const s = await ctx.fs.statfs();
    return ok({
      obj_attributes: fattr3(attr),
      tbytes: s.totalBytes,
      fbytes: s.freeBytes,
      abytes: s.availBytes,
      tfiles: s.totalFiles,
      ffiles: s.freeFiles,
      afiles: s.availFiles,
      invarsec: 0,
    });
  },
  fail: (status, info) => fail(status, { obj_attributes: info.attr }),
};
