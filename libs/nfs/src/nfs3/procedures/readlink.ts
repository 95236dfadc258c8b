/** RFC 1813 §3.3.5 READLINK: symlinks carry no permission of their own (always 0777). */
import { FileType } from '@ferry/fs';
import type { Nfs3Procedure } from '../procedure';
import { fail, fattr3, NfsError, ok, readRes, type Res, writeRes } from '../result';
import { NfsStat3, type PostOpAttr, readNfsFh3, readNfspath3, readPostOpAttr, writeNfsFh3, writePostOpAttr } from '../xdr-types';

export interface READLINK3args {
  symlink: Buffer;
}
export interface READLINK3resok {
  symlink_attributes: PostOpAttr;
  data: string;
}
export interface READLINK3resfail {
  symlink_attributes: PostOpAttr;
}
export type READLINK3res = Res<READLINK3resok, READLINK3resfail>;

export const READLINK: Nfs3Procedure<READLINK3args, READLINK3res> = {
  proc: 5,
  name: 'READLINK',
  modifying: false,
  nonIdempotent: false,
  decodeArgs: (r) => ({ symlink: readNfsFh3(r) }),
  encodeArgs: (w, a) => writeNfsFh3(w, a.symlink),
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => {
        writePostOpAttr(x, v.symlink_attributes);
        x.string(v.data);
      },
      (x, v) => writePostOpAttr(x, v.symlink_attributes),
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({ symlink_attributes: readPostOpAttr(x), data: readNfspath3(x) }),
      (x) => ({ symlink_attributes: readPostOpAttr(x) }),
    ),
  handles: (a) => [a.symlink],
  async run(ctx) {
    const attr = await ctx.attr(0);
    if (attr.type !== FileType.LNK) throw new NfsError(NfsStat3.NFS3ERR_INVAL, 'not a symlink');
    const r = await ctx.fs.readlink(ctx.file);
    return ok({ symlink_attributes: fattr3(r.attr), data: r.target });
  },
  fail: (status, info) => fail(status, { symlink_attributes: info.attr }),
};
