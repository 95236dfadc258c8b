/**
 * RFC 1813 §3.3.21 COMMIT: everything written to the file before it is durable when it
 * returns; the verifier lets the client detect a restart in between (then it re-sends).
 */
import type { Nfs3Procedure } from '../procedure';
import { fail, ok, readRes, type Res, wccData, writeRes } from '../result';
import { readNfsFh3, readVerf8, readWccData, type Wcc_data, writeNfsFh3, writeVerf8, writeWccData } from '../xdr-types';

export interface COMMIT3args {
  file: Buffer;
  offset: bigint;
  count: number;
}
export interface COMMIT3resok {
  file_wcc: Wcc_data;
  verf: Buffer;
}
export interface COMMIT3resfail {
  file_wcc: Wcc_data;
}
export type COMMIT3res = Res<COMMIT3resok, COMMIT3resfail>;

export const COMMIT: Nfs3Procedure<COMMIT3args, COMMIT3res> = {
  proc: 21,
  name: 'COMMIT',
  modifying: false,
  nonIdempotent: false,
  decodeArgs: (r) => ({ file: readNfsFh3(r), offset: r.uhyper(), count: r.uint() }),
  encodeArgs(w, a) {
    writeNfsFh3(w, a.file);
    w.uhyper(a.offset);
    w.uint(a.count);
  },
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => {
        writeWccData(x, v.file_wcc);
        writeVerf8(x, v.verf);
      },
      (x, v) => writeWccData(x, v.file_wcc),
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({ file_wcc: readWccData(x), verf: readVerf8(x) }),
      (x) => ({ file_wcc: readWccData(x) }),
    ),
  handles: (a) => [a.file],
  async run(ctx, a) {
    const wcc = await ctx.fs.commit(ctx.file, a.offset, a.count);
    return ok({ file_wcc: wccData(wcc), verf: ctx.writeVerifier });
  },
  fail: (status, info) => fail(status, { file_wcc: info.wcc }),
};
