/**
 * RFC 1813 §3.3.14 RENAME. Both directories need write and search permission; sticky rules
 * apply to the moved entry and to an entry it replaces; moving a directory to another parent
 * also needs write permission on it (its ".." changes), as Linux requires.
 */
import { FileType, FsError, FsErrorCode, type RenameResult } from '@ferry/fs';
import { MAY_WRITE, mayAccess, mayModifyDir, stickyAllows } from '../../permission';
import { checkName, checkOldName, type Nfs3Procedure } from '../procedure';
import { fail, NfsError, ok, readRes, type Res, wccData, writeRes } from '../result';
import { type Diropargs3, NfsStat3, readDiropargs3, readWccData, type Wcc_data, writeDiropargs3, writeWccData } from '../xdr-types';

export interface RENAME3args {
  from: Diropargs3;
  to: Diropargs3;
}
export interface RENAME3resok {
  fromdir_wcc: Wcc_data;
  todir_wcc: Wcc_data;
}
export type RENAME3res = Res<RENAME3resok, RENAME3resok>;

const writeBody = (x: Parameters<typeof writeWccData>[0], v: RENAME3resok): void => {
  writeWccData(x, v.fromdir_wcc);
  writeWccData(x, v.todir_wcc);
};
const readBody = (x: Parameters<typeof readWccData>[0]): RENAME3resok => ({ fromdir_wcc: readWccData(x), todir_wcc: readWccData(x) });

export const RENAME: Nfs3Procedure<RENAME3args, RENAME3res> = {
  proc: 14,
  name: 'RENAME',
  modifying: true,
  nonIdempotent: true,
  decodeArgs: (r) => ({ from: readDiropargs3(r), to: readDiropargs3(r) }),
  encodeArgs(w, a) {
    writeDiropargs3(w, a.from);
    writeDiropargs3(w, a.to);
  },
  encodeRes: (w, res) => writeRes(w, res, writeBody, writeBody),
  decodeRes: (r) => readRes(r, readBody, readBody),
  handles: (a) => [a.from.dir, a.to.dir],
  async run(ctx, a) {
    checkOldName(a.from.name);
    checkName(a.to.name);
    if (a.to.name === '.' || a.to.name === '..') throw new NfsError(NfsStat3.NFS3ERR_INVAL);
    const toFile = ctx.file2 ?? ctx.file;
    const fromDir = await ctx.attr(0);
    const toDir = ctx.file2 === undefined ? fromDir : await ctx.attr(1);
    if (fromDir.type !== FileType.DIR || toDir.type !== FileType.DIR) throw new NfsError(NfsStat3.NFS3ERR_NOTDIR);
    if (!mayModifyDir(ctx.user, fromDir) || !mayModifyDir(ctx.user, toDir)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
    const sameDir = toFile.ino === ctx.file.ino;
    // The moved entry's attributes matter only for a sticky source or a change of parent.
    if ((fromDir.mode & 0o1000) !== 0 || !sameDir) {
      const moved = await ctx.fs.lookup(ctx.file, a.from.name);
      if (!stickyAllows(ctx.user, fromDir, moved.attr)) throw new NfsError(NfsStat3.NFS3ERR_PERM, 'sticky directory');
      if (!sameDir && moved.attr.type === FileType.DIR && !mayAccess(ctx.user, moved.attr, MAY_WRITE)) {
        throw new NfsError(NfsStat3.NFS3ERR_ACCES, 'moving a directory needs write permission on it');
      }
    }
    if ((toDir.mode & 0o1000) !== 0) {
      let replaced;
      try {
        replaced = await ctx.fs.lookup(toFile, a.to.name);
      } catch (err) {
        if (!(err instanceof FsError && err.code === FsErrorCode.NOENT)) throw err;
      }
      if (replaced !== undefined && !stickyAllows(ctx.user, toDir, replaced.attr)) {
        throw new NfsError(NfsStat3.NFS3ERR_PERM, 'sticky directory');
      }
    }
    const toRes = (r: RenameResult): RENAME3res => ok({ fromdir_wcc: wccData(r.fromWcc), todir_wcc: wccData(r.toWcc) });
    return ctx.keptRes(toRes, await ctx.fs.rename(ctx.file, a.from.name, toFile, a.to.name, ctx.keep(toRes)));
  },
  fail: (status, info) => fail(status, { fromdir_wcc: info.wcc, todir_wcc: info.wcc2 }),
};
