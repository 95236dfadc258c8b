/**
 * Pieces several procedures share: sattr3 to engine attributes, the diropres3 result of the
 * four creating procedures (RFC 1813 §3.3.8-§3.3.11), and the checks before creating a node.
 */
import { type Attr, FileType, type NewNodeOwner, type SetAttrs, type Wcc } from '@ferry/fs';
import type { XdrReader, XdrWriter } from '@ferry/xdr';
import { inGroup, mayModifyDir } from '../../permission';
import { checkNewName, type FailInfo, type NfsCallContext } from '../procedure';
import { fail, fattr3, NfsError, ok, readRes, type Res, wccData, writeRes } from '../result';
import {
  NfsStat3,
  type PostOpAttr,
  readPostOpAttr,
  readPostOpFh3,
  readWccData,
  type Sattr3,
  type Wcc_data,
  writePostOpAttr,
  writePostOpFh3,
  writeWccData,
} from '../xdr-types';

export function setAttrsFromSattr3(s: Sattr3): SetAttrs {
  const out: SetAttrs = {};
  if (s.mode !== undefined) out.mode = s.mode & 0o7777;
  if (s.uid !== undefined) out.uid = s.uid;
  if (s.gid !== undefined) out.gid = s.gid;
  if (s.size !== undefined) out.size = s.size;
  if (s.atime !== undefined) out.atime = s.atime === 'server' ? 'now' : { sec: s.atime.seconds, nsec: s.atime.nseconds };
  if (s.mtime !== undefined) out.mtime = s.mtime === 'server' ? 'now' : { sec: s.mtime.seconds, nsec: s.mtime.nseconds };
  return out;
}

/** RFC 1813 §3.3.8 CREATE3resok (also MKDIR3resok, SYMLINK3resok, MKNOD3resok). */
export interface Diropres3Ok {
  obj: Buffer | undefined;
  obj_attributes: PostOpAttr;
  dir_wcc: Wcc_data;
}

export interface Diropres3Fail {
  dir_wcc: Wcc_data;
}

export type Diropres3 = Res<Diropres3Ok, Diropres3Fail>;

export function writeDiropres3(w: XdrWriter, r: Diropres3): void {
  writeRes(
    w,
    r,
    (x, v) => {
      writePostOpFh3(x, v.obj);
      writePostOpAttr(x, v.obj_attributes);
      writeWccData(x, v.dir_wcc);
    },
    (x, v) => writeWccData(x, v.dir_wcc),
  );
}

export function readDiropres3(r: XdrReader): Diropres3 {
  return readRes(
    r,
    (x) => ({ obj: readPostOpFh3(x), obj_attributes: readPostOpAttr(x), dir_wcc: readWccData(x) }),
    (x) => ({ dir_wcc: readWccData(x) }),
  );
}

export function diropres3Fail(status: NfsStat3, info: FailInfo): Diropres3 {
  return fail(status, { dir_wcc: info.wcc });
}

export function diropres3Ok(ctx: NfsCallContext, r: { attr: Attr; dirWcc: Wcc }): Diropres3 {
  return ok({
    obj: ctx.handle({ ino: r.attr.ino, generation: r.attr.generation }),
    obj_attributes: fattr3(r.attr),
    dir_wcc: wccData(r.dirWcc),
  });
}

/**
 * Checks before creating `name` in the first object of the call and returns the new node's
 * owner: the caller, with the directory's group when the directory is setgid (BSD/SysV
 * semantics Linux follows). Attributes may not give the node away: a non-root caller may name
 * only its own uid and a group it belongs to.
 */
export async function prepareCreate(ctx: NfsCallContext, name: string, attrs: SetAttrs | undefined): Promise<{ dir: Attr; owner: NewNodeOwner }> {
  checkNewName(name);
  const dir = await ctx.attr(0);
  if (dir.type !== FileType.DIR) throw new NfsError(NfsStat3.NFS3ERR_NOTDIR);
  if (!mayModifyDir(ctx.user, dir)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
  const user = ctx.user;
  const owner: NewNodeOwner = { uid: user.uid, gid: (dir.mode & 0o2000) !== 0 ? dir.gid : user.gid };
  if (attrs !== undefined && user.uid !== 0) {
    if (attrs.uid !== undefined && attrs.uid !== user.uid) throw new NfsError(NfsStat3.NFS3ERR_PERM, 'only root gives files away');
    if (attrs.gid !== undefined && attrs.gid !== owner.gid && !inGroup(user, attrs.gid)) {
      throw new NfsError(NfsStat3.NFS3ERR_PERM, 'not a member of that group');
    }
  }
  return { dir, owner };
}

/** READDIR cookie verifier: constant per directory (its generation), see readdir.ts. */
export function cookieVerfFor(dir: Attr): Buffer {
  const v = Buffer.alloc(8);
  v.writeUInt32BE(dir.generation >>> 0, 0);
  v.write('FRY3', 4, 'latin1');
  return v;
}

/** Whether a client's verifier may resume in this directory (zero = "none", RFC 1813 §3.3.16). */
export function cookieVerfAcceptable(given: Buffer, ours: Buffer): boolean {
  let zero = true;
  for (let i = 0; i < 8; i++) if (given[i] !== 0) zero = false;
  return zero || given.equals(ours);
}

/** XDR size of a string or opaque of n bytes: length word plus padded data. */
export function xdrOpaqueBytes(n: number): number {
  return 4 + ((n + 3) & ~3);
}
