/**
 * The filesystem engine API: what the protocol layer (libs/nfs) calls.
 *
 * Everything here is protocol-neutral: the engine knows nothing of NFS, XDR or credentials
 * checks (permission checks are the protocol layer's, made on the attributes this API returns;
 * the engine is privileged, like a kernel VFS below its permission layer).
 *
 * Contract:
 * - Files are named by `FileRef` (inode number + generation). A ref whose inode is gone or was
 *   reused with another generation fails with FsErrorCode.STALE, never touches another file.
 * - Expected failures throw `FsError` with a code; anything else thrown is an internal fault
 *   (the protocol layer answers SERVERFAULT and logs it).
 * - Metadata operations are durable when their promise resolves (RFC 1813 §3.3 "modifying
 *   operations ... committed to stable storage before returning"). `write` with
 *   StableHow.UNSTABLE may be buffered; `commit` makes everything written before it durable.
 * - Modifying operations return weak cache consistency data: `before` is taken atomically with
 *   the change (no other operation on this filesystem runs between before, change and after).
 *   A failing modifying operation throws FsError whose `wcc` holds the same for the directory
 *   or file it concerned, when the engine got that far.
 */

/** RFC 1813 §2.3.5 ftype3 values, so the mapping is the identity. */
export enum FileType {
  REG = 1,
  DIR = 2,
  BLK = 3,
  CHR = 4,
  LNK = 5,
  SOCK = 6,
  FIFO = 7,
}

export interface Timespec {
  readonly sec: number; // seconds since the epoch, a safe integer (RFC 1813 nfstime3 is 32-bit unsigned)
  readonly nsec: number; // 0..999_999_999
}

export interface FileRef {
  ino: bigint;
  generation: number;
}

/**
 * Attributes the engine returns may be shared between callers (and frozen): never modify one.
 * A change to a file makes a new Attr object, so a cache keyed by the object stays exact (the
 * NFS layer's READDIRPLUS encoding cache, libs/nfs/src/nfs3/entry-plus.ts, is one).
 */
export interface Attr {
  readonly type: FileType;
  readonly mode: number; // permission bits and setuid/setgid/sticky: 0o7777
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: bigint;
  readonly used: bigint; // bytes of storage allocated
  readonly rdevMajor: number;
  readonly rdevMinor: number;
  readonly fsid: bigint;
  readonly ino: bigint; // fileid3
  readonly generation: number;
  readonly atime: Timespec;
  readonly mtime: Timespec;
  readonly ctime: Timespec;
}

/** RFC 1813 §2.6 wcc_attr: what a client needs to validate its cache. */
export interface WccAttr {
  size: bigint;
  mtime: Timespec;
  ctime: Timespec;
}

export interface Wcc {
  before?: WccAttr;
  after?: Attr;
}

/** RFC 1813 §2.3.? sattr3 in engine terms; `undefined` = leave as is. */
export interface SetAttrs {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: bigint;
  atime?: Timespec | 'now';
  mtime?: Timespec | 'now';
}

/** RFC 1813 §3.3.7 stable_how. */
export enum StableHow {
  UNSTABLE = 0,
  DATA_SYNC = 1,
  FILE_SYNC = 2,
}

export type CreateMode =
  | { how: 'unchecked'; attrs: SetAttrs }
  | { how: 'guarded'; attrs: SetAttrs }
  /** The verifier (8 bytes) is stored durably with the new file; a retransmit with the same
   * verifier finds the file and succeeds (RFC 1813 §3.3.8). */
  | { how: 'exclusive'; verifier: Buffer };

export interface NewNodeOwner {
  uid: number;
  gid: number;
}

export interface DirEntry {
  /** Stable cookie: resuming after it lists every entry that existed throughout, once. */
  cookie: bigint;
  name: string;
  ino: bigint;
  /** Present when readdir was asked for attributes (READDIRPLUS). */
  attr?: Attr;
}

export interface ReaddirResult {
  entries: DirEntry[];
  eof: boolean;
  dirAttr: Attr;
}

export interface FsStat {
  totalBytes: bigint;
  freeBytes: bigint;
  availBytes: bigint;
  totalFiles: bigint;
  freeFiles: bigint;
  availFiles: bigint;
}

export interface FsInfo {
  /** Largest file size the engine supports. */
  maxFileSize: bigint;
  /** Engine block size: preferred I/O multiple. */
  blockSize: number;
  /** Timestamp granularity the engine keeps. */
  timeDeltaNs: number;
  maxNameBytes: number;
  maxLinks: number;
}

/** Engine error codes. libs/nfs maps every one to an nfsstat3 (exhaustively). */
export enum FsErrorCode {
  PERM = 'PERM',
  NOENT = 'NOENT',
  IO = 'IO',
  ACCES = 'ACCES',
  EXIST = 'EXIST',
  XDEV = 'XDEV',
  NOTDIR = 'NOTDIR',
  ISDIR = 'ISDIR',
  INVAL = 'INVAL',
  FBIG = 'FBIG',
  NOSPC = 'NOSPC',
  ROFS = 'ROFS',
  MLINK = 'MLINK',
  NAMETOOLONG = 'NAMETOOLONG',
  NOTEMPTY = 'NOTEMPTY',
  STALE = 'STALE',
  BAD_COOKIE = 'BAD_COOKIE',
  NOTSUPP = 'NOTSUPP',
  /** The ctime guard of SETATTR did not match (RFC 1813 §3.3.2). */
  NOT_SYNC = 'NOT_SYNC',
  /** Temporarily unable (lease lost, filesystem frozen for a move): retry later. */
  JUKEBOX = 'JUKEBOX',
}

export class FsError extends Error {
  constructor(
    readonly code: FsErrorCode,
    message?: string,
    /** wcc data of the directory (or file) the failed operation concerned, when known. */
    readonly wcc?: Wcc,
    /** For RENAME failures: wcc of the target directory. */
    readonly wcc2?: Wcc,
  ) {
    super(message ?? code);
    this.name = 'FsError';
  }
}

export interface ReadResult {
  data: Buffer;
  eof: boolean;
  attr: Attr;
  /**
   * Lets the engine use `data`'s memory for a later read. Call it at most once, and only when
   * nothing will read `data` again (the NFS server calls it once the reply has left for the
   * kernel). Not calling it is always safe.
   */
  release?: () => void;
}

export interface WriteResult {
  count: number;
  committed: StableHow;
  wcc: Wcc;
}

/** A reply the protocol layer kept durably with this filesystem (see `recordReply`). */
export interface ReplyRecord {
  key: Buffer;
  reply: Buffer;
}

/**
 * The reply record that answers a modifying operation, built from the operation's result (the
 * value the method resolves to) while its transaction is being staged: the engine writes the
 * record in that same transaction, so the change and its reply are durable together, and a new
 * owner that finds the change also finds the reply. Called at most once, synchronously, and only
 * when the operation succeeds; returns undefined to keep nothing. The record is kept only if the
 * transaction applies (the method then resolves with the result it was built from).
 */
export type ReplyBuilder<R> = (result: R) => ReplyRecord | undefined;

/** What create, mkdir, symlink, mknod and link resolve to: the node and its directory's change. */
export interface NewNode {
  attr: Attr;
  dirWcc: Wcc;
}

/** What rename resolves to. */
export interface RenameResult {
  fromWcc: Wcc;
  toWcc: Wcc;
}

/**
 * One mounted filesystem. Methods may be called concurrently; the engine orders them.
 */
export interface FileSystem {
  readonly fsid: bigint;
  readonly root: FileRef;
  readonly info: FsInfo;
  /** RFC 1813 writeverf3: changes whenever buffered (UNSTABLE) data could have been lost. */
  readonly writeVerifier: Buffer;

  getattr(file: FileRef): Promise<Attr>;
  setattr(file: FileRef, attrs: SetAttrs, guardCtime?: Timespec, answer?: ReplyBuilder<Wcc>): Promise<Wcc>;
  lookup(dir: FileRef, name: string): Promise<{ attr: Attr; dirAttr: Attr }>;
  /** `count` is capped by the caller at its rtmax. */
  read(file: FileRef, offset: bigint, count: number): Promise<ReadResult>;
  write(file: FileRef, offset: bigint, data: Buffer, stable: StableHow): Promise<WriteResult>;
  /** Makes every earlier write to the file durable (RFC 1813 §3.3.21; offset/count advisory). */
  commit(file: FileRef, offset: bigint, count: number): Promise<Wcc>;

  create(dir: FileRef, name: string, mode: CreateMode, owner: NewNodeOwner, answer?: ReplyBuilder<NewNode>): Promise<NewNode>;
  mkdir(dir: FileRef, name: string, attrs: SetAttrs, owner: NewNodeOwner, answer?: ReplyBuilder<NewNode>): Promise<NewNode>;
  symlink(dir: FileRef, name: string, target: string, attrs: SetAttrs, owner: NewNodeOwner, answer?: ReplyBuilder<NewNode>): Promise<NewNode>;
  mknod(
    dir: FileRef,
    name: string,
    type: FileType.BLK | FileType.CHR | FileType.SOCK | FileType.FIFO,
    rdev: { major: number; minor: number },
    attrs: SetAttrs,
    owner: NewNodeOwner,
    answer?: ReplyBuilder<NewNode>,
  ): Promise<NewNode>;
  readlink(file: FileRef): Promise<{ target: string; attr: Attr }>;
  remove(dir: FileRef, name: string, answer?: ReplyBuilder<Wcc>): Promise<Wcc>;
  rmdir(dir: FileRef, name: string, answer?: ReplyBuilder<Wcc>): Promise<Wcc>;
  rename(fromDir: FileRef, fromName: string, toDir: FileRef, toName: string, answer?: ReplyBuilder<RenameResult>): Promise<RenameResult>;
  link(file: FileRef, dir: FileRef, name: string, answer?: ReplyBuilder<NewNode>): Promise<NewNode>;
  /**
   * Entries after `cookie` (0 = from the start, "." and ".." included) in cookie order,
   * stopping when `accept` returns false for an entry (that entry is not consumed) or at the end.
   */
  readdir(
    dir: FileRef,
    cookie: bigint,
    withAttrs: boolean,
    accept: (entry: DirEntry) => boolean,
  ): Promise<ReaddirResult>;
  statfs(): Promise<FsStat>;

  /**
   * Keeps a reply of the protocol layer's duplicate request cache with this filesystem, so a
   * new owner can answer a retransmit with it. A reply to a modifying operation goes with the
   * operation instead (its `answer` argument, `ReplyBuilder`): this is for the rest, and for a
   * reply that could not be built in time. Synchronous and cheap: the record is staged into
   * the metadata transaction stream and rides in the next metadata transaction (the next
   * operation's, or one of its own a moment later), so it is durable with the log write that
   * follows the operation it answers, never before that operation. Only the newest records are
   * kept (bounded by count and bytes; older ones are deleted the same way). `key` and `reply`
   * are opaque bytes (together at most MAX_REPLY_RECORD_BYTES); throws RangeError beyond that.
   * Ignored once the filesystem is closed.
   */
  recordReply(key: Buffer, reply: Buffer): void;
  /**
   * Resolves once every reply recorded before the call is durable (a transaction carrying it
   * is on the log). A server that must not let a reply out before its record survives a crash
   * (a cluster mover: the next owner answers a retransmit from it) awaits this before replying.
   */
  repliesDurable(): Promise<void>;
  /** The reply records kept (those that survived open/recovery plus those recorded since), oldest
   * first. The buffers are shared: do not modify them. */
  replyRecords(): ReplyRecord[];

  /** Flush buffered data and metadata (graceful shutdown, handover). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** An inode number as a Map key: a number when it is exact as one (every inode number in
 * practice), else the BigInt. One-to-one, and a Map finds number keys several times faster. */
export type InoKey = number | bigint;
export function inoKey(ino: bigint): InoKey {
  return ino <= 0x1f_ffff_ffff_ffffn ? Number(ino) : ino;
}
