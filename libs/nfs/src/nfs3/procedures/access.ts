/** RFC 1813 §3.3.4 ACCESS: the requested bits the caller holds (see permission.ts). */
import { computeAccess } from '../../permission';
import type { Nfs3Procedure } from '../procedure';
import { fail, fattr3, ok, readRes, type Res, writeRes } from '../result';
import { type PostOpAttr, readNfsFh3, readPostOpAttr, writeNfsFh3, writePostOpAttr } from '../xdr-types';

export interface ACCESS3args {
  object: Buffer;
  access: number;
}
export interface ACCESS3resok {
  obj_attributes: PostOpAttr;
  access: number;
}
export interface ACCESS3resfail {
  obj_attributes: PostOpAttr;
}
export type ACCESS3res = Res<ACCESS3resok, ACCESS3resfail>;

export const ACCESS: Nfs3Procedure<ACCESS3args, ACCESS3res> = {
  proc: 4,
  name: 'ACCESS',
  modifying: false,
  nonIdempotent: false,
  decodeArgs: (r) => ({ object: readNfsFh3(r), access: r.uint() }),
  encodeArgs(w, a) {
    writeNfsFh3(w, a.object);
    w.uint(a.access);
  },
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => {
        writePostOpAttr(x, v.obj_attributes);
        x.uint(v.access);
      },
      (x, v) => writePostOpAttr(x, v.obj_attributes),
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({ obj_attributes: readPostOpAttr(x), access: x.uint() }),
      (x) => ({ obj_attributes: readPostOpAttr(x) }),
    ),
  handles: (a) => [a.object],
  async run(ctx, a) {
    const attr = await ctx.attr(0);
    return ok({ obj_attributes: fattr3(attr), access: computeAccess(ctx.user, attr, a.access, ctx.readOnly) });
  },
  fail: (status, info) => fail(status, { obj_attributes: info.attr }),
};
