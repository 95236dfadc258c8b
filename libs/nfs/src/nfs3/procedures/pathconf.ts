/**
 * RFC 1813 §3.3.20 PATHCONF: honest values. Names longer than name_max are refused
 * (no_trunc), only root chowns (chown_restricted), names are case-sensitive and preserved.
 */
import type { Nfs3Procedure } from '../procedure';
import { fail, fattr3, ok, readRes, type Res, writeRes } from '../result';
import { NFS3_MAXNAMLEN, type PostOpAttr, readNfsFh3, readPostOpAttr, writeNfsFh3, writePostOpAttr } from '../xdr-types';

export interface PATHCONF3args {
  object: Buffer;
}
export interface PATHCONF3resok {
  obj_attributes: PostOpAttr;
  linkmax: number;
  name_max: number;
  no_trunc: boolean;
  chown_restricted: boolean;
  case_insensitive: boolean;
  case_preserving: boolean;
}
export interface PATHCONF3resfail {
  obj_attributes: PostOpAttr;
}
export type PATHCONF3res = Res<PATHCONF3resok, PATHCONF3resfail>;

export const PATHCONF: Nfs3Procedure<PATHCONF3args, PATHCONF3res> = {
  proc: 20,
  name: 'PATHCONF',
  modifying: false,
  nonIdempotent: false,
  decodeArgs: (r) => ({ object: readNfsFh3(r) }),
  encodeArgs: (w, a) => writeNfsFh3(w, a.object),
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => {
        writePostOpAttr(x, v.obj_attributes);
        x.uint(v.linkmax).uint(v.name_max);
        x.bool(v.no_trunc).bool(v.chown_restricted).bool(v.case_insensitive).bool(v.case_preserving);
      },
      (x, v) => writePostOpAttr(x, v.obj_attributes),
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({
        obj_attributes: readPostOpAttr(x),
        linkmax: x.uint(),
        name_max: x.uint(),
        no_trunc: x.bool(),
        chown_restricted: x.bool(),
        case_insensitive: x.bool(),
        case_preserving: x.bool(),
      }),
      (x) => ({ obj_attributes: readPostOpAttr(x) }),
    ),
  handles: (a) => [a.object],
  async run(ctx) {
    const attr = await ctx.attr(0);
    const info = ctx.fs.info;
    return ok({
      obj_attributes: fattr3(attr),
      linkmax: info.maxLinks,
      name_max: Math.min(info.maxNameBytes, NFS3_MAXNAMLEN),
      no_trunc: true,
      chown_restricted: true,
      case_insensitive: false,
      case_preserving: true,
    });
  },
  fail: (status, info) => fail(status, { obj_attributes: info.attr }),
};
