/**
 * MOUNT v3 wire types (RFC 1813 appendix I) with their XDR codecs. Paths are capped at
 * MNTPATHLEN and names at MNTNAMLEN before anything is sliced.
 */
import { XdrError, type XdrReader, type XdrWriter } from '@ferry/xdr';

export const MOUNT_PROGRAM = 100005;
export const MOUNT_V3 = 3;
/** Served only for DUMP/EXPORT/UMNT (showmount); see nfs-service.ts. */
export const MOUNT_V1 = 1;
/** RFC 1813 appendix I constants. */
export const MNTPATHLEN = 1024;
export const MNTNAMLEN = 255;
export const FHSIZE3 = 64;

export enum MountProc3 {
  NULL = 0,
  MNT = 1,
  DUMP = 2,
  UMNT = 3,
  UMNTALL = 4,
  EXPORT = 5,
}

export const MOUNT3_PROCEDURE_NAMES: readonly string[] = ['NULL', 'MNT', 'DUMP', 'UMNT', 'UMNTALL', 'EXPORT'];

/** RFC 1813 appendix I mountstat3. */
export enum MountStat3 {
  MNT3_OK = 0,
  MNT3ERR_PERM = 1,
  MNT3ERR_NOENT = 2,
  MNT3ERR_IO = 5,
  MNT3ERR_ACCES = 13,
  MNT3ERR_NOTDIR = 20,
  MNT3ERR_INVAL = 22,
  MNT3ERR_NAMETOOLONG = 63,
  MNT3ERR_NOTSUPP = 10004,
  MNT3ERR_SERVERFAULT = 10006,
}

/** RFC 1813 appendix I mountres3_ok. */
export interface Mountres3_ok {
  fhandle: Buffer;
  auth_flavors: number[];
}

/** RFC 1813 appendix I mountres3. */
export type Mountres3 = { fhs_status: MountStat3.MNT3_OK; mountinfo: Mountres3_ok } | { fhs_status: Exclude<MountStat3, MountStat3.MNT3_OK> };

/** RFC 1813 appendix I mountbody (the list is flattened to an array). */
export interface Mountbody {
  ml_hostname: string;
  ml_directory: string;
}

/** RFC 1813 appendix I exportnode (ex_groups flattened to the group names). */
export interface Exportnode {
  ex_dir: string;
  ex_groups: string[];
}

/** RFC 1813 appendix I dirpath. */
export function readDirpath(r: XdrReader): string {
  return r.string(MNTPATHLEN);
}

export function writeDirpath(w: XdrWriter, p: string): void {
  w.string(p);
}

export function writeMountres3(w: XdrWriter, res: Mountres3): void {
  w.enum(res.fhs_status);
  if (res.fhs_status === MountStat3.MNT3_OK) {
    w.opaque(res.mountinfo.fhandle);
    w.array(res.mountinfo.auth_flavors, (x, f) => x.int(f));
  }
}

export function readMountres3(r: XdrReader): Mountres3 {
  const status = r.enum() as MountStat3;
  if (status !== MountStat3.MNT3_OK) return { fhs_status: status };
  const fhandle = r.opaque(FHSIZE3);
  const auth_flavors = r.array((x) => x.int(), 64);
  return { fhs_status: status, mountinfo: { fhandle, auth_flavors } };
}

/** XDR optional-data linked list: TRUE before each item, FALSE at the end. */
function writeList<T>(w: XdrWriter, items: readonly T[], write: (w: XdrWriter, v: T) => void): void {
  for (const it of items) {
    w.bool(true);
    write(w, it);
  }
  w.bool(false);
}

/** Reads a linked list, refusing more than `max` items so a peer cannot make it unbounded. */
function readList<T>(r: XdrReader, read: (r: XdrReader) => T, max: number): T[] {
  const out: T[] = [];
  while (r.bool()) {
    if (out.length >= max) throw new XdrError(`list longer than ${max}`);
    out.push(read(r));
  }
  return out;
}

export function writeMountlist(w: XdrWriter, list: readonly Mountbody[]): void {
  writeList(w, list, (x, m) => {
    x.string(m.ml_hostname);
    x.string(m.ml_directory);
  });
}

export function readMountlist(r: XdrReader, max = 1 << 16): Mountbody[] {
  return readList(r, (x) => ({ ml_hostname: x.string(MNTNAMLEN), ml_directory: x.string(MNTPATHLEN) }), max);
}

export function writeExports(w: XdrWriter, list: readonly Exportnode[]): void {
  writeList(w, list, (x, e) => {
    x.string(e.ex_dir);
    writeList(x, e.ex_groups, (y, g) => y.string(g));
  });
}

export function readExports(r: XdrReader, max = 1 << 16): Exportnode[] {
  return readList(r, (x) => ({ ex_dir: x.string(MNTPATHLEN), ex_groups: readList(x, (y) => y.string(MNTNAMLEN), max) }), max);
}
