/**
 * RFC 1813 §3.3.8 CREATE in its three modes. EXCLUSIVE hands the verifier to the engine, which
 * stores it with the file so a retransmit finds the file and succeeds; the client then sets the
 * attributes with SETATTR.
 */
import { type CreateMode, FsError, FsErrorCode, type NewNode } from '@ferry/fs';
import { XdrError } from '@ferry/xdr';
import { mayWriteData } from '../../permission';
import type { Nfs3Procedure } from '../procedure';
import { NfsError } from '../result';
import {
  Createmode3,
  type Diropargs3,
  NfsStat3,
  readDiropargs3,
  readSattr3,
  readVerf8,
  type Sattr3,
  writeDiropargs3,
  writeSattr3,
  writeVerf8,
} from '../xdr-types';
import { diropres3Fail, diropres3Ok, type Diropres3, prepareCreate, readDiropres3, setAttrsFromSattr3, writeDiropres3 } from './common';

/** RFC 1813 §3.3.8 createhow3. */
export type Createhow3 =
  | { mode: Createmode3.UNCHECKED | Createmode3.GUARDED; obj_attributes: Sattr3 }
  | { mode: Createmode3.EXCLUSIVE; verf: Buffer };

export interface CREATE3args {
  where: Diropargs3;
  how: Createhow3;
}
export type CREATE3res = Diropres3;

export const CREATE: Nfs3Procedure<CREATE3args, CREATE3res> = {
  proc: 8,
  name: 'CREATE',
  modifying: true,
  nonIdempotent: true,
  decodeArgs(r) {
    const where = readDiropargs3(r);
    const mode = r.enum();
    let how: Createhow3;
    if (mode === Createmode3.UNCHECKED || mode === Createmode3.GUARDED) how = { mode, obj_attributes: readSattr3(r) };
    else if (mode === Createmode3.EXCLUSIVE) how = { mode, verf: readVerf8(r) };
    else throw new XdrError(`bad createmode3 ${mode}`);
    return { where, how };
  },
  encodeArgs(w, a) {
    writeDiropargs3(w, a.where);
    w.enum(a.how.mode);
    if (a.how.mode === Createmode3.EXCLUSIVE) writeVerf8(w, a.how.verf);
    else writeSattr3(w, a.how.obj_attributes);
  },
  encodeRes: writeDiropres3,
  decodeRes: readDiropres3,
  handles: (a) => [a.where.dir],
  async run(ctx, a) {
    let mode: CreateMode;
    if (a.how.mode === Createmode3.EXCLUSIVE) {
      // The verifier is a view into the request buffer; the engine keeps it, so copy.
      mode = { how: 'exclusive', verifier: Buffer.from(a.how.verf) };
    } else {
      const attrs = setAttrsFromSattr3(a.how.obj_attributes);
      mode = { how: a.how.mode === Createmode3.GUARDED ? 'guarded' : 'unchecked', attrs };
    }
    const { owner } = await prepareCreate(ctx, a.where.name, mode.how === 'exclusive' ? undefined : mode.attrs);
    if (mode.how === 'unchecked' && mode.attrs.size !== undefined) {
      // UNCHECKED over an existing file truncates it (RFC 1813 §3.3.8): that needs write
      // permission on the file, not just on the directory.
      let existing;
      try {
        existing = (await ctx.fs.lookup(ctx.file, a.where.name)).attr;
      } catch (err) {
        if (!(err instanceof FsError && err.code === FsErrorCode.NOENT)) throw err;
      }
      if (existing !== undefined && !mayWriteData(ctx.user, existing)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
    }
    const toRes = (r: NewNode): CREATE3res => diropres3Ok(ctx, r);
    return ctx.keptRes(toRes, await ctx.fs.create(ctx.file, a.where.name, mode, owner, ctx.keep(toRes)));
  },
  fail: diropres3Fail,
};
