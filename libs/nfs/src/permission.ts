/**
 * Permission checks, made here on the attributes the engine returns (the engine is privileged,
 * see libs/fs/src/api.ts). The rules follow POSIX as Linux knfsd applies them, including its
 * owner override for I/O so that a client writing a file it just created mode 0444 succeeds.
 */
import { type Attr, FileType } from '@ferry/fs';
import type { User } from './exports';
import {
  ACCESS3_DELETE,
  ACCESS3_EXECUTE,
  ACCESS3_EXTEND,
  ACCESS3_LOOKUP,
  ACCESS3_MODIFY,
  ACCESS3_READ,
} from './nfs3/xdr-types';

export const MAY_READ = 4;
export const MAY_WRITE = 2;
export const MAY_EXEC = 1;

const S_ISVTX = 0o1000;

export function inGroup(user: User, gid: number): boolean {
  return user.gid === gid || user.gids.includes(gid);
}

/** The rwx bits of the class (owner, group, other) the user falls in. */
function classBits(user: User, attr: Attr): number {
  if (user.uid === attr.uid) return (attr.mode >> 6) & 7;
  if (inGroup(user, attr.gid)) return (attr.mode >> 3) & 7;
  return attr.mode & 7;
}

/**
 * POSIX access check. Root may do anything except execute a non-directory with no execute bit
 * at all (as the kernel's generic_permission does).
 */
export function mayAccess(user: User, attr: Attr, want: number): boolean {
  if (user.uid === 0) {
    if ((want & MAY_EXEC) !== 0 && attr.type !== FileType.DIR && (attr.mode & 0o111) === 0) return false;
    return true;
  }
  return (classBits(user, attr) & want) === want;
}

/** READ I/O: read permission, or the owner (knfsd NFSD_MAY_OWNER_OVERRIDE), or execute (a client reads to execute). */
export function mayReadData(user: User, attr: Attr): boolean {
  return user.uid === attr.uid || mayAccess(user, attr, MAY_READ) || mayAccess(user, attr, MAY_EXEC);
}

/** WRITE I/O and truncation: write permission or the owner (knfsd NFSD_MAY_OWNER_OVERRIDE). */
export function mayWriteData(user: User, attr: Attr): boolean {
  return user.uid === attr.uid || mayAccess(user, attr, MAY_WRITE);
}

/** Create, remove, rename or link in a directory: write and search permission on it. */
export function mayModifyDir(user: User, dir: Attr): boolean {
  return mayAccess(user, dir, MAY_WRITE | MAY_EXEC);
}

/**
 * Sticky directories (RFC-less but POSIX): only the file's owner, the directory's owner or root
 * may remove or rename an entry.
 */
export function stickyAllows(user: User, dir: Attr, victim: Attr): boolean {
  if ((dir.mode & S_ISVTX) === 0) return true;
  return user.uid === 0 || user.uid === dir.uid || user.uid === victim.uid;
}

/**
 * RFC 1813 §3.3.4 ACCESS: the requested bits the user holds. Directories: READ = r, LOOKUP = x,
 * MODIFY/EXTEND/DELETE = w+x (what creating or removing an entry needs). Other files: READ = r,
 * MODIFY/EXTEND = w, EXECUTE = x; DELETE is a property of the parent, so it is never granted
 * on a non-directory (as knfsd). A read-only export grants no MODIFY, EXTEND or DELETE.
 */
export function computeAccess(user: User, attr: Attr, requested: number, readOnly: boolean): number {
  let granted = 0;
  if (attr.type === FileType.DIR) {
    if (mayAccess(user, attr, MAY_READ)) granted |= ACCESS3_READ;
    if (mayAccess(user, attr, MAY_EXEC)) granted |= ACCESS3_LOOKUP;
    if (mayAccess(user, attr, MAY_WRITE | MAY_EXEC)) granted |= ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE;
  } else {
    if (mayAccess(user, attr, MAY_READ)) granted |= ACCESS3_READ;
    if (mayAccess(user, attr, MAY_WRITE)) granted |= ACCESS3_MODIFY | ACCESS3_EXTEND;
    if (mayAccess(user, attr, MAY_EXEC)) granted |= ACCESS3_EXECUTE;
  }
  if (readOnly) granted &= ~(ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE);
  return granted & requested;
}
