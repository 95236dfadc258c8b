/**
 * NFSv3 wire types shared by the procedures (RFC 1813 §2), with their XDR codecs.
 *
 * Names follow the RFC so they can be searched against it. Codecs are hand-written over
 * XdrReader/XdrWriter: decoders check every peer-controlled length against a protocol limit
 * before slicing, encoders write fields in RFC order with no intermediate buffers.
 */
import { XdrError, type XdrReader, type XdrWriter } from '@ferry/xdr';

/** RFC 1813 §2.4 / §2.5 sizes. */
export const NFS3_FHSIZE = 64;
export const NFS3_COOKIEVERFSIZE = 8;
export const NFS3_CREATEVERFSIZE = 8;
export const NFS3_WRITEVERFSIZE = 8;
/** Names are decoded up to this many bytes so an over-long name answers NFS3ERR_NAMETOOLONG. */
export const NFS3_MAXPATHLEN = 1024;
/** What we advertise in PATHCONF name_max; longer names are NFS3ERR_NAMETOOLONG. */
export const NFS3_MAXNAMLEN = 255;

export const NFS_PROGRAM = 100003;
export const NFS_V3 = 3;

/** RFC 1813 §2.6 nfsstat3. */
export enum NfsStat3 {
  NFS3_OK = 0,
  NFS3ERR_PERM = 1,
  NFS3ERR_NOENT = 2,
  NFS3ERR_IO = 5,
  NFS3ERR_NXIO = 6,
  NFS3ERR_ACCES = 13,
  NFS3ERR_EXIST = 17,
  NFS3ERR_XDEV = 18,
  NFS3ERR_NODEV = 19,
  NFS3ERR_NOTDIR = 20,
  NFS3ERR_ISDIR = 21,
  NFS3ERR_INVAL = 22,
  NFS3ERR_FBIG = 27,
  NFS3ERR_NOSPC = 28,
  NFS3ERR_ROFS = 30,
  NFS3ERR_MLINK = 31,
  NFS3ERR_NAMETOOLONG = 63,
  NFS3ERR_NOTEMPTY = 66,
  NFS3ERR_DQUOT = 69,
  NFS3ERR_STALE = 70,
  NFS3ERR_REMOTE = 71,
  NFS3ERR_BADHANDLE = 10001,
  NFS3ERR_NOT_SYNC = 10002,
  NFS3ERR_BAD_COOKIE = 10003,
  NFS3ERR_NOTSUPP = 10004,
  NFS3ERR_TOOSMALL = 10005,
  NFS3ERR_SERVERFAULT = 10006,
  NFS3ERR_BADTYPE = 10007,
  NFS3ERR_JUKEBOX = 10008,
}

export type NfsErrStat3 = Exclude<NfsStat3, NfsStat3.NFS3_OK>;

/** RFC 1813 §2.6 ftype3 (same values as the engine's FileType). */
export enum Ftype3 {
  NF3REG = 1,
  NF3DIR = 2,
  NF3BLK = 3,
  NF3CHR = 4,
  NF3LNK = 5,
  NF3SOCK = 6,
  NF3FIFO = 7,
}

/** RFC 1813 §3.3.7 stable_how. */
export enum StableHow3 {
  UNSTABLE = 0,
  DATA_SYNC = 1,
  FILE_SYNC = 2,
}

/** RFC 1813 §3.3.8 createmode3. */
export enum Createmode3 {
  UNCHECKED = 0,
  GUARDED = 1,
  EXCLUSIVE = 2,
}

/** RFC 1813 §2.6 time_how. */
export enum TimeHow {
  DONT_CHANGE = 0,
  SET_TO_SERVER_TIME = 1,
  SET_TO_CLIENT_TIME = 2,
}

/** RFC 1813 §3.3.4 ACCESS bits. */
export const ACCESS3_READ = 0x0001;
export const ACCESS3_LOOKUP = 0x0002;
export const ACCESS3_MODIFY = 0x0004;
export const ACCESS3_EXTEND = 0x0008;
export const ACCESS3_DELETE = 0x0010;
export const ACCESS3_EXECUTE = 0x0020;

/** RFC 1813 §3.3.19 FSINFO properties. */
export const FSF3_LINK = 0x0001;
export const FSF3_SYMLINK = 0x0002;
export const FSF3_HOMOGENEOUS = 0x0008;
export const FSF3_CANSETTIME = 0x0010;

/** RFC 1813 §2.6 nfstime3. */
export interface Nfstime3 {
  seconds: number;
  nseconds: number;
}

/** RFC 1813 §2.6 specdata3. */
export interface Specdata3 {
  specdata1: number;
  specdata2: number;
}

/** RFC 1813 §2.6 fattr3 (84 bytes on the wire). */
export interface Fattr3 {
  type: Ftype3;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: bigint;
  used: bigint;
  rdev: Specdata3;
  fsid: bigint;
  fileid: bigint;
  atime: Nfstime3;
  mtime: Nfstime3;
  ctime: Nfstime3;
}

/** RFC 1813 §2.6 wcc_attr (24 bytes on the wire). */
export interface WccAttr3 {
  size: bigint;
  mtime: Nfstime3;
  ctime: Nfstime3;
}

/** RFC 1813 §2.6 pre_op_attr / post_op_attr: undefined = attributes_follow FALSE. */
export type PreOpAttr = WccAttr3 | undefined;
export type PostOpAttr = Fattr3 | undefined;

/** RFC 1813 §2.6 wcc_data. */
export interface Wcc_data {
  before: PreOpAttr;
  after: PostOpAttr;
}

/** RFC 1813 §2.6 sattr3: an absent field is "don't change"; 'server' is SET_TO_SERVER_TIME. */
export interface Sattr3 {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: bigint;
  atime?: Nfstime3 | 'server';
  mtime?: Nfstime3 | 'server';
}

/** RFC 1813 §2.6 diropargs3. */
export interface Diropargs3 {
  dir: Buffer;
  name: string;
}

export const EMPTY_WCC: Wcc_data = { before: undefined, after: undefined };

// ---- codecs -------------------------------------------------------------------------------

/** RFC 1813 §2.5 nfs_fh3: opaque<NFS3_FHSIZE>. */
export function readNfsFh3(r: XdrReader): Buffer {
  return r.opaque(NFS3_FHSIZE);
}

export function writeNfsFh3(w: XdrWriter, fh: Buffer): void {
  if (fh.length > NFS3_FHSIZE) throw new Error(`file handle of ${fh.length} bytes over NFS3_FHSIZE`);
  w.opaque(fh);
}

/** RFC 1813 §2.5 filename3; see NFS3_MAXPATHLEN for why the cap is above name_max. */
export function readFilename3(r: XdrReader): string {
  return r.string(NFS3_MAXPATHLEN);
}

/** RFC 1813 §2.5 nfspath3. */
export function readNfspath3(r: XdrReader): string {
  return r.string(NFS3_MAXPATHLEN);
}

export function readNfstime3(r: XdrReader): Nfstime3 {
  const seconds = r.uint();
  const nseconds = r.uint();
  return { seconds, nseconds };
}

export function writeNfstime3(w: XdrWriter, t: Nfstime3): void {
  w.uint(t.seconds);
  w.uint(t.nseconds);
}

export function readFattr3(r: XdrReader): Fattr3 {
  const type = r.enum();
  if (type < 1 || type > 7) throw new XdrError(`bad ftype3 ${type}`);
  return {
    type,
    mode: r.uint(),
    nlink: r.uint(),
    uid: r.uint(),
    gid: r.uint(),
    size: r.uhyper(),
    used: r.uhyper(),
    rdev: { specdata1: r.uint(), specdata2: r.uint() },
    fsid: r.uhyper(),
    fileid: r.uhyper(),
    atime: readNfstime3(r),
    mtime: readNfstime3(r),
    ctime: readNfstime3(r),
  };
}

export function writeFattr3(w: XdrWriter, a: Fattr3): void {
  w.reserve(84);
  w.enum(a.type);
  w.uint(a.mode);
  w.uint(a.nlink);
  w.uint(a.uid);
  w.uint(a.gid);
  w.uhyper(a.size);
  w.uhyper(a.used);
  w.uint(a.rdev.specdata1);
  w.uint(a.rdev.specdata2);
  w.uhyper(a.fsid);
  w.uhyper(a.fileid);
  writeNfstime3(w, a.atime);
  writeNfstime3(w, a.mtime);
  writeNfstime3(w, a.ctime);
}

export function readWccAttr3(r: XdrReader): WccAttr3 {
  return { size: r.uhyper(), mtime: readNfstime3(r), ctime: readNfstime3(r) };
}

export function writeWccAttr3(w: XdrWriter, a: WccAttr3): void {
  w.uhyper(a.size);
  writeNfstime3(w, a.mtime);
  writeNfstime3(w, a.ctime);
}

export function readPostOpAttr(r: XdrReader): PostOpAttr {
  return r.bool() ? readFattr3(r) : undefined;
}

export function writePostOpAttr(w: XdrWriter, a: PostOpAttr): void {
  if (a === undefined) {
    w.bool(false);
    return;
  }
  w.bool(true);
  writeFattr3(w, a);
}

export function readPreOpAttr(r: XdrReader): PreOpAttr {
  return r.bool() ? readWccAttr3(r) : undefined;
}

export function writePreOpAttr(w: XdrWriter, a: PreOpAttr): void {
  if (a === undefined) {
    w.bool(false);
    return;
  }
  w.bool(true);
  writeWccAttr3(w, a);
}

export function readWccData(r: XdrReader): Wcc_data {
  const before = readPreOpAttr(r);
  const after = readPostOpAttr(r);
  return { before, after };
}

export function writeWccData(w: XdrWriter, d: Wcc_data): void {
  writePreOpAttr(w, d.before);
  writePostOpAttr(w, d.after);
}

/** RFC 1813 §3.3.8 post_op_fh3. */
export function readPostOpFh3(r: XdrReader): Buffer | undefined {
  return r.bool() ? readNfsFh3(r) : undefined;
}

export function writePostOpFh3(w: XdrWriter, fh: Buffer | undefined): void {
  if (fh === undefined) {
    w.bool(false);
    return;
  }
  w.bool(true);
  writeNfsFh3(w, fh);
}

function readSetTime(r: XdrReader): Nfstime3 | 'server' | undefined {
  const how = r.enum();
  switch (how) {
    case TimeHow.DONT_CHANGE:
      return undefined;
    case TimeHow.SET_TO_SERVER_TIME:
      return 'server';
    case TimeHow.SET_TO_CLIENT_TIME:
      return readNfstime3(r);
    default:
      throw new XdrError(`bad time_how ${how}`);
  }
}

function writeSetTime(w: XdrWriter, t: Nfstime3 | 'server' | undefined): void {
  if (t === undefined) w.enum(TimeHow.DONT_CHANGE);
  else if (t === 'server') w.enum(TimeHow.SET_TO_SERVER_TIME);
  else {
    w.enum(TimeHow.SET_TO_CLIENT_TIME);
    writeNfstime3(w, t);
  }
}

export function readSattr3(r: XdrReader): Sattr3 {
  const s: Sattr3 = {};
  if (r.bool()) s.mode = r.uint();
  if (r.bool()) s.uid = r.uint();
  if (r.bool()) s.gid = r.uint();
  if (r.bool()) s.size = r.uhyper();
  const atime = readSetTime(r);
  if (atime !== undefined) s.atime = atime;
  const mtime = readSetTime(r);
  if (mtime !== undefined) s.mtime = mtime;
  return s;
}

export function writeSattr3(w: XdrWriter, s: Sattr3): void {
  w.optional(s.mode, (x, v) => x.uint(v));
  w.optional(s.uid, (x, v) => x.uint(v));
  w.optional(s.gid, (x, v) => x.uint(v));
  w.optional(s.size, (x, v) => x.uhyper(v));
  writeSetTime(w, s.atime);
  writeSetTime(w, s.mtime);
}

export function readDiropargs3(r: XdrReader): Diropargs3 {
  const dir = readNfsFh3(r);
  const name = readFilename3(r);
  return { dir, name };
}

export function writeDiropargs3(w: XdrWriter, d: Diropargs3): void {
  writeNfsFh3(w, d.dir);
  w.string(d.name);
}

/** A fixed 8-byte verifier (cookieverf3, createverf3, writeverf3). */
export function readVerf8(r: XdrReader): Buffer {
  return r.fixedOpaque(8);
}

export function writeVerf8(w: XdrWriter, v: Buffer): void {
  if (v.length !== 8) throw new Error(`verifier must be 8 bytes, got ${v.length}`);
  w.fixedOpaque(v);
}
