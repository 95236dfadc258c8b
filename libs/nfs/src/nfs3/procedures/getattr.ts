/** RFC 1813 §3.3.1 GETATTR: the attributes of one object. */
import type { XdrReader, XdrWriter } from '@ferry/xdr';
import type { Nfs3Procedure } from '../procedure';
import { fail, fattr3, ok, readRes, type Res, writeRes } from '../result';
import { type Fattr3, readFattr3, readNfsFh3, writeFattr3, writeNfsFh3 } from '../xdr-types';

export interface GETATTR3args {
  object: Buffer;
}
export interface GETATTR3resok {
  obj_attributes: Fattr3;
}
export type GETATTR3res = Res<GETATTR3resok, undefined>;

export const GETATTR: Nfs3Procedure<GETATTR3args, GETATTR3res> = {
  proc: 1,
  name: 'GETATTR',
  modifying: false,
  nonIdempotent: false,
  decodeArgs: (r: XdrReader) => ({ object: readNfsFh3(r) }),
  encodeArgs: (w: XdrWriter, a) => writeNfsFh3(w, a.object),
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => writeFattr3(x, v.obj_attributes),
      () => undefined,
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({ obj_attributes: readFattr3(x) }),
      () => undefined,
    ),
  handles: (a) => [a.object],
  async run(ctx) {
    return ok({ obj_attributes: fattr3(await ctx.attr(0)) });
  },
  fail: (status) => fail(status, undefined),
};
