/**
 * RFC 1813 §3.3.12 REMOVE and (with `rmdir`) §3.3.13 RMDIR: write and search permission on the
 * directory, and in a sticky directory only root, the directory's owner or the entry's owner.
 */
import { FileType, type Wcc } from '@ferry/fs';
import { mayModifyDir, stickyAllows } from '../../permission';
import type { XdrReader, XdrWriter } from '@ferry/xdr';
import { checkOldName, type Nfs3Procedure, type NfsCallContext } from '../procedure';
import { fail, NfsError, ok, readRes, type Res, wccData, writeRes } from '../result';
import { type Diropargs3, NfsStat3, readDiropargs3, readWccData, type Wcc_data, writeDiropargs3, writeWccData } from '../xdr-types';

export interface REMOVE3args {
  object: Diropargs3;
}
export interface REMOVE3resok {
  dir_wcc: Wcc_data;
}
export type REMOVE3res = Res<REMOVE3resok, REMOVE3resok>;

export const writeDirWccRes = (w: XdrWriter, res: Res<REMOVE3resok, REMOVE3resok>): void =>
  writeRes(
    w,
    res,
    (x, v) => writeWccData(x, v.dir_wcc),
    (x, v) => writeWccData(x, v.dir_wcc),
  );
export const readDirWccRes = (r: XdrReader): Res<REMOVE3resok, REMOVE3resok> =>
  readRes(
    r,
    (x) => ({ dir_wcc: readWccData(x) }),
    (x) => ({ dir_wcc: readWccData(x) }),
  );

/** The checks REMOVE and RMDIR share, run against the first object of the call. */
export async function checkRemove(ctx: NfsCallContext, name: string): Promise<void> {
  checkOldName(name);
  const dir = await ctx.attr(0);
  if (dir.type !== FileType.DIR) throw new NfsError(NfsStat3.NFS3ERR_NOTDIR);
  if (!mayModifyDir(ctx.user, dir)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
  if ((dir.mode & 0o1000) !== 0) {
    const victim = await ctx.fs.lookup(ctx.file, name);
    if (!stickyAllows(ctx.user, dir, victim.attr)) throw new NfsError(NfsStat3.NFS3ERR_PERM, 'sticky directory');
  }
}

export const REMOVE: Nfs3Procedure<REMOVE3args, REMOVE3res> = {
  proc: 12,
  name: 'REMOVE',
  modifying: true,
  nonIdempotent: true,
  decodeArgs: (r) => ({ object: readDiropargs3(r) }),
  encodeArgs: (w, a) => writeDiropargs3(w, a.object),
  encodeRes: writeDirWccRes,
  decodeRes: readDirWccRes,
  handles: (a) => [a.object.dir],
  async run(ctx, a) {
    await checkRemove(ctx, a.object.name);
    const toRes = (w: Wcc): REMOVE3res => ok({ dir_wcc: wccData(w) });
    return ctx.keptRes(toRes, await ctx.fs.remove(ctx.file, a.object.name, ctx.keep(toRes)));
  },
  fail: (status, info) => fail(status, { dir_wcc: info.wcc }),
};
