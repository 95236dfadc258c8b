/** RFC 1813 §3.3.10 SYMLINK: the target is stored as given (never interpreted by the server). */
import type { NewNode } from '@ferry/fs';
import type { Nfs3Procedure } from '../procedure';
import { NfsError } from '../result';
import {
  type Diropargs3,
  NfsStat3,
  readDiropargs3,
  readNfspath3,
  readSattr3,
  type Sattr3,
  writeDiropargs3,
  writeSattr3,
} from '../xdr-types';
import { diropres3Fail, diropres3Ok, type Diropres3, prepareCreate, readDiropres3, setAttrsFromSattr3, writeDiropres3 } from './common';

/** RFC 1813 §3.3.10 symlinkdata3. */
export interface Symlinkdata3 {
  symlink_attributes: Sattr3;
  symlink_data: string;
}
export interface SYMLINK3args {
  where: Diropargs3;
  symlink: Symlinkdata3;
}
export type SYMLINK3res = Diropres3;

export const SYMLINK: Nfs3Procedure<SYMLINK3args, SYMLINK3res> = {
  proc: 10,
  name: 'SYMLINK',
  modifying: true,
  nonIdempotent: true,
  decodeArgs: (r) => ({ where: readDiropargs3(r), symlink: { symlink_attributes: readSattr3(r), symlink_data: readNfspath3(r) } }),
  encodeArgs(w, a) {
    writeDiropargs3(w, a.where);
    writeSattr3(w, a.symlink.symlink_attributes);
    w.string(a.symlink.symlink_data);
  },
  encodeRes: writeDiropres3,
  decodeRes: readDiropres3,
  handles: (a) => [a.where.dir],
  async run(ctx, a) {
    const attrs = setAttrsFromSattr3(a.symlink.symlink_attributes);
    const { owner } = await prepareCreate(ctx, a.where.name, attrs);
    // symlink(2) refuses an empty target with ENOENT, as knfsd answers.
    if (a.symlink.symlink_data.length === 0) throw new NfsError(NfsStat3.NFS3ERR_NOENT, 'empty symlink target');
    const toRes = (r: NewNode): SYMLINK3res => diropres3Ok(ctx, r);
    return ctx.keptRes(toRes, await ctx.fs.symlink(ctx.file, a.where.name, a.symlink.symlink_data, attrs, owner, ctx.keep(toRes)));
  },
  fail: diropres3Fail,
};
