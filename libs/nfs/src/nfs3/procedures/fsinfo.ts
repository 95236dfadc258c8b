/**
 * RFC 1813 §3.3.19 FSINFO. Transfer sizes are the service's maxIoBytes (the decoders enforce
 * the same cap), multiples are the engine's block size, dtpref 64 KiB.
 */
import type { Nfs3Procedure } from '../procedure';
import { fail, fattr3, ok, readRes, type Res, writeRes } from '../result';
import {
  FSF3_CANSETTIME,
  FSF3_HOMOGENEOUS,
  FSF3_LINK,
  FSF3_SYMLINK,
  type Nfstime3,
  type PostOpAttr,
  readNfsFh3,
  readNfstime3,
  readPostOpAttr,
  writeNfsFh3,
  writeNfstime3,
  writePostOpAttr,
} from '../xdr-types';

export const DTPREF_BYTES = 64 * 1024;
export const FSINFO_PROPERTIES = FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME;

export interface FSINFO3args {
  fsroot: Buffer;
}
export interface FSINFO3resok {
  obj_attributes: PostOpAttr;
  rtmax: number;
  rtpref: number;
  rtmult: number;
  wtmax: number;
  wtpref: number;
  wtmult: number;
  dtpref: number;
  maxfilesize: bigint;
  time_delta: Nfstime3;
  properties: number;
}
export interface FSINFO3resfail {
  obj_attributes: PostOpAttr;
}
export type FSINFO3res = Res<FSINFO3resok, FSINFO3resfail>;

export const FSINFO: Nfs3Procedure<FSINFO3args, FSINFO3res> = {
  proc: 19,
  name: 'FSINFO',
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
        x.uint(v.rtmax).uint(v.rtpref).uint(v.rtmult);
        x.uint(v.wtmax).uint(v.wtpref).uint(v.wtmult);
        x.uint(v.dtpref);
        x.uhyper(v.maxfilesize);
        writeNfstime3(x, v.time_delta);
        x.uint(v.properties);
      },
      (x, v) => writePostOpAttr(x, v.obj_attributes),
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({
        obj_attributes: readPostOpAttr(x),
        rtmax: x.uint(),
        rtpref: x.uint(),
        rtmult: x.uint(),
        wtmax: x.uint(),
        wtpref: x.uint(),
        wtmult: x.uint(),
        dtpref: x.uint(),
        maxfilesize: x.uhyper(),
        time_delta: readNfstime3(x),
        properties: x.uint(),
      }),
      (x) => ({ obj_attributes: readPostOpAttr(x) }),
    ),
  handles: (a) => [a.fsroot],
  async run(ctx) {
    const attr = await ctx.attr(0);
    const info = ctx.fs.info;
    const io = ctx.maxIoBytes;
    return ok({
      obj_attributes: fattr3(attr),
      rtmax: io,
      rtpref: io,
      rtmult: info.blockSize,
      wtmax: io,
      wtpref: io,
      wtmult: info.blockSize,
      dtpref: Math.min(DTPREF_BYTES, io),
      maxfilesize: info.maxFileSize,
      time_delta: { seconds: Math.floor(info.timeDeltaNs / 1e9), nseconds: info.timeDeltaNs % 1e9 },
      properties: FSINFO_PROPERTIES,
    });
  },
  fail: (status, info) => fail(status, { obj_attributes: info.attr }),
};
