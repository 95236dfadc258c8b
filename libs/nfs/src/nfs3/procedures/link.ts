/**
 * RFC 1813 §3.3.15 LINK: write and search permission on the target directory. Hard links to
 * directories are refused with NFS3ERR_INVAL (ISDIR is not among LINK's RFC errors).
 */
import { FileType, type NewNode } from '@ferry/fs';
import { mayModifyDir } from '../../permission';
import { checkNewName, type Nfs3Procedure } from '../procedure';
import { fail, fattr3, NfsError, ok, readRes, type Res, wccData, writeRes } from '../result';
import {
  type Diropargs3,
  NfsStat3,
  type PostOpAttr,
  readDiropargs3,
  readNfsFh3,
  readPostOpAttr,
  readWccData,
  type Wcc_data,
  writeDiropargs3,
  writeNfsFh3,
  writePostOpAttr,
  writeWccData,
} from '../xdr-types';

export interface LINK3args {
  file: Buffer;
  link: Diropargs3;
}
export interface LINK3resok {
  file_attributes: PostOpAttr;
  linkdir_wcc: Wcc_data;
}
export type LINK3res = Res<LINK3resok, LINK3resok>;

const writeBody = (x: Parameters<typeof writeWccData>[0], v: LINK3resok): void => {
  writePostOpAttr(x, v.file_attributes);
  writeWccData(x, v.linkdir_wcc);
};
const readBody = (x: Parameters<typeof readWccData>[0]): LINK3resok => ({ file_attributes: readPostOpAttr(x), linkdir_wcc: readWccData(x) });

export const LINK: Nfs3Procedure<LINK3args, LINK3res> = {
  proc: 15,
  name: 'LINK',
  modifying: true,
  nonIdempotent: true,
  decodeArgs: (r) => ({ file: readNfsFh3(r), link: readDiropargs3(r) }),
  encodeArgs(w, a) {
    writeNfsFh3(w, a.file);
    writeDiropargs3(w, a.link);
  },
  encodeRes: (w, res) => writeRes(w, res, writeBody, writeBody),
  decodeRes: (r) => readRes(r, readBody, readBody),
  handles: (a) => [a.file, a.link.dir],
  async run(ctx, a) {
    checkNewName(a.link.name);
    const dirRef = ctx.file2 ?? ctx.file;
    const dir = ctx.file2 === undefined ? await ctx.attr(0) : await ctx.attr(1);
    if (dir.type !== FileType.DIR) throw new NfsError(NfsStat3.NFS3ERR_NOTDIR);
    if (!mayModifyDir(ctx.user, dir)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
    const file = await ctx.attr(0);
    if (file.type === FileType.DIR) throw new NfsError(NfsStat3.NFS3ERR_INVAL, 'hard link to a directory');
    const toRes = (r: NewNode): LINK3res => ok({ file_attributes: fattr3(r.attr), linkdir_wcc: wccData(r.dirWcc) });
    return ctx.keptRes(toRes, await ctx.fs.link(ctx.file, dirRef, a.link.name, ctx.keep(toRes)));
  },
  fail: (status, info) => fail(status, { file_attributes: info.attr, linkdir_wcc: info.wcc2 }),
};
