/**
 * RFC 1813 §3.3.2 SETATTR, with the ctime guard (NFS3ERR_NOT_SYNC when it does not match).
 * Who may change what follows POSIX as Linux applies it: only root chowns; the owner may chgrp
 * to a group it belongs to and may always set its own file's mode and times; setting times to
 * the server's clock also needs only write permission (utime(NULL)); truncation needs write
 * permission with knfsd's owner override.
 */
import { FileType, type Timespec, type Wcc } from '@ferry/fs';
import { inGroup, mayAccess, MAY_WRITE, mayWriteData } from '../../permission';
import type { Nfs3Procedure } from '../procedure';
import { fail, NfsError, ok, readRes, type Res, wccData, writeRes } from '../result';
import {
  NfsStat3,
  type Nfstime3,
  readNfsFh3,
  readNfstime3,
  readSattr3,
  readWccData,
  type Sattr3,
  type Wcc_data,
  writeNfsFh3,
  writeNfstime3,
  writeSattr3,
  writeWccData,
} from '../xdr-types';
import { setAttrsFromSattr3 } from './common';

export interface SETATTR3args {
  object: Buffer;
  new_attributes: Sattr3;
  /** sattrguard3: the ctime the client believes the object has, when check is TRUE. */
  guard: Nfstime3 | undefined;
}
export interface SETATTR3resok {
  obj_wcc: Wcc_data;
}
export type SETATTR3res = Res<SETATTR3resok, SETATTR3resok>;

const writeBody = (w: Parameters<typeof writeWccData>[0], v: SETATTR3resok): void => writeWccData(w, v.obj_wcc);

export const SETATTR: Nfs3Procedure<SETATTR3args, SETATTR3res> = {
  proc: 2,
  name: 'SETATTR',
  modifying: true,
  nonIdempotent: true,
  decodeArgs(r) {
    const object = readNfsFh3(r);
    const new_attributes = readSattr3(r);
    const guard = r.bool() ? readNfstime3(r) : undefined;
    return { object, new_attributes, guard };
  },
  encodeArgs(w, a) {
    writeNfsFh3(w, a.object);
    writeSattr3(w, a.new_attributes);
    w.optional(a.guard, writeNfstime3);
  },
  encodeRes: (w, res) => writeRes(w, res, writeBody, writeBody),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({ obj_wcc: readWccData(x) }),
      (x) => ({ obj_wcc: readWccData(x) }),
    ),
  handles: (a) => [a.object],
  async run(ctx, a) {
    const attr = await ctx.attr(0);
    const user = ctx.user;
    const root = user.uid === 0;
    const owner = user.uid === attr.uid;
    const set = setAttrsFromSattr3(a.new_attributes);
    if (set.uid !== undefined && set.uid !== attr.uid && !root) throw new NfsError(NfsStat3.NFS3ERR_PERM, 'only root may chown');
    if (set.gid !== undefined && set.gid !== attr.gid && !root && !(owner && inGroup(user, set.gid))) {
      throw new NfsError(NfsStat3.NFS3ERR_PERM, 'chgrp needs ownership and membership');
    }
    if (set.mode !== undefined && !root) {
      if (!owner) throw new NfsError(NfsStat3.NFS3ERR_PERM, 'only the owner may chmod');
      // As chmod(2): a non-member cannot make a file setgid to a group it does not hold.
      if (!inGroup(user, set.gid ?? attr.gid)) set.mode &= ~0o2000;
    }
    if (set.size !== undefined) {
      if (attr.type === FileType.DIR) throw new NfsError(NfsStat3.NFS3ERR_ISDIR);
      if (attr.type !== FileType.REG) throw new NfsError(NfsStat3.NFS3ERR_INVAL);
      if (!mayWriteData(user, attr)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
    }
    for (const t of [set.atime, set.mtime]) {
      if (t === undefined || root || owner) continue;
      if (t !== 'now') throw new NfsError(NfsStat3.NFS3ERR_PERM, 'only the owner sets explicit times');
      if (!mayAccess(user, attr, MAY_WRITE)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
    }
    const guard: Timespec | undefined = a.guard === undefined ? undefined : { sec: a.guard.seconds, nsec: a.guard.nseconds };
    const toRes = (w: Wcc): SETATTR3res => ok({ obj_wcc: wccData(w) });
    return ctx.keptRes(toRes, await ctx.fs.setattr(ctx.file, set, guard, ctx.keep(toRes)));
  },
  fail: (status, info) => fail(status, { obj_wcc: info.wcc }),
};
