/** RFC 1813 §3.3.13 RMDIR: the same checks as REMOVE (remove.ts). */
import type { Wcc } from '@ferry/fs';
import type { Nfs3Procedure } from '../procedure';
import { fail, ok, wccData } from '../result';
import { readDiropargs3, writeDiropargs3 } from '../xdr-types';
import { checkRemove, readDirWccRes, type REMOVE3args, type REMOVE3res, writeDirWccRes } from './remove';

export type RMDIR3args = REMOVE3args;
export type RMDIR3res = REMOVE3res;

export const RMDIR: Nfs3Procedure<RMDIR3args, RMDIR3res> = {
  proc: 13,
  name: 'RMDIR',
  modifying: true,
  nonIdempotent: true,
  decodeArgs: (r) => ({ object: readDiropargs3(r) }),
  encodeArgs: (w, a) => writeDiropargs3(w, a.object),
  encodeRes: writeDirWccRes,
  decodeRes: readDirWccRes,
  handles: (a) => [a.object.dir],
  async run(ctx, a) {
    await checkRemove(ctx, a.object.name);
    const toRes = (w: Wcc): RMDIR3res => ok({ dir_wcc: wccData(w) });
    return ctx.keptRes(toRes, await ctx.fs.rmdir(ctx.file, a.object.name, ctx.keep(toRes)));
  },
  fail: (status, info) => fail(status, { dir_wcc: info.wcc }),
};
