/** RFC 1813 §3.3.9 MKDIR: a new directory inherits the setgid bit of a setgid parent. */
import type { NewNode } from '@ferry/fs';
import type { Nfs3Procedure } from '../procedure';
import { type Diropargs3, readDiropargs3, readSattr3, type Sattr3, writeDiropargs3, writeSattr3 } from '../xdr-types';
import { diropres3Fail, diropres3Ok, type Diropres3, prepareCreate, readDiropres3, setAttrsFromSattr3, writeDiropres3 } from './common';

export interface MKDIR3args {
  where: Diropargs3;
  attributes: Sattr3;
}
export type MKDIR3res = Diropres3;

export const MKDIR: Nfs3Procedure<MKDIR3args, MKDIR3res> = {
  proc: 9,
  name: 'MKDIR',
  modifying: true,
  nonIdempotent: true,
  decodeArgs: (r) => ({ where: readDiropargs3(r), attributes: readSattr3(r) }),
  encodeArgs(w, a) {
    writeDiropargs3(w, a.where);
    writeSattr3(w, a.attributes);
  },
  encodeRes: writeDiropres3,
  decodeRes: readDiropres3,
  handles: (a) => [a.where.dir],
  async run(ctx, a) {
    const attrs = setAttrsFromSattr3(a.attributes);
    const { dir, owner } = await prepareCreate(ctx, a.where.name, attrs);
    if ((dir.mode & 0o2000) !== 0 && attrs.mode !== undefined) attrs.mode |= 0o2000;
    const toRes = (r: NewNode): MKDIR3res => diropres3Ok(ctx, r);
    return ctx.keptRes(toRes, await ctx.fs.mkdir(ctx.file, a.where.name, attrs, owner, ctx.keep(toRes)));
  },
  fail: diropres3Fail,
};
