/**
 * The filesystem engine: `FileSystem` (api.ts) over a `Volume` (meta/volume.ts).
 * Key/value layouts: layout.ts and libs/fs/FORMAT-engine.md.
 *
 * Invariants:
 * - Every metadata read-modify-write runs under `meta` (one mutex per filesystem): inodes are
 *   read, checked and changed, and the transaction applied, with nothing else in between, so wcc
 *   `before` is atomic with the change. The mutex is released before awaiting `durable`, so one
 *   log sync (group commit) covers many clients' operations.
 * - Every data operation on a file holds that file's lock (FileState.lock, a reader/writer
 *   lock): reads share it; writes, truncates and the apply step of a flush take it exclusively.
 *   A flush writes its new blocks holding only the file's flush lock (one flush per file at a
 *   time), so reads and writes go on meanwhile. Lock order: flush lock, file lock, then `meta`,
 *   never the reverse, and nobody waits for write-buffer budget while holding a lock.
 * - Buffered (UNSTABLE) data lives in `FileState.dirty` (write-buffer.ts: runs of whole 4 KiB
 *   blocks). The size and times a write produces stay in `FileState.pending`, overlaid on every
 *   inode load, until a transaction writes the inode (the flush that applies the data, COMMIT,
 *   or any other change of the inode). Bytes at or beyond a file's size are zero in every run
 *   and every block, so extending a file never reveals old data.
 * - `bufferedBlocks` = every dirty block of every file + budget reserved by writers in flight,
 *   and never exceeds the budget except for a single write larger than the whole budget.
 * - Data is copy-on-write: a flush writes new blocks, then one transaction names them
 *   (`allocated`), points the extents at them with their crc32c, and frees the old ones; it is
 *   dropped if a truncate ran after it chose its runs (`truncSeq`).
 * - Extents of one file never overlap and are at most MAX_EXTENT_BLOCKS long.
 * - Reply records (key prefix REPLY): `replies` mirrors, oldest first, the newest records within
 *   the bounds (count and bytes); sequence numbers increase in record order (a number taken by a
 *   transaction that failed to apply is skipped). An operation's own record (its `answer`, a
 *   ReplyBuilder) is put in the operation's transaction, after every record staged before it,
 *   and joins `replies` once that transaction applied. Records with seq < `stagedReplySeq` are
 *   in an applied transaction (or in the one being applied); the rest (`recordReply`) are staged
 *   into the next metadata transaction, whichever operation runs it, or one of their own on the
 *   next turn of the event loop, and made durable without anyone waiting. Evicted records
 *   already applied are deleted in a later transaction (`replyDels`); so the volume holds at
 *   most the bounds plus what awaits its delete.
 */
import { createHash } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';
import {
  type Attr,
  type CreateMode,
  type DirEntry,
  type FileRef,
  type FileSystem,
  type FsInfo,
  type FsStat,
  type NewNode,
  type NewNodeOwner,
  type RenameResult,
  type ReplyBuilder,
  type ReplyRecord,
  type ReadResult,
  type ReaddirResult,
  type SetAttrs,
  type Timespec,
  type Wcc,
  type WccAttr,
  type WriteResult,
  FileType,
  FsError,
  FsErrorCode,
  type InoKey,
  inoKey,
  StableHow,
} from '../api';
import { type Extent, type Volume, VolumeFullError } from '../meta/volume';
import {
  BLOCK_BYTES,
  COLLISION_SLOTS,
  COOKIE_DOT,
  COOKIE_DOTDOT,
  type ExtentRecord,
  FIRST_ENTRY_COOKIE,
  type InodeRecord,
  KeyPrefix,
  MAX_EXTENT_BLOCKS,
  MAX_FILE_BYTES,
  MAX_LINKS,
  MAX_NAME_BYTES,
  ROOT_INO,
  SUPER_KEY,
  type SuperRecord,
  decodeDirent,
  decodeExtent,
  decodeReply,
  encodeReply,
  replyKey,
  decodeInode,
  decodeInodeAttr,
  inodeParent,
  decodeSuper,
  direntCookie,
  direntKey,
  encodeDirent,
  encodeExtent,
  encodeFreeIno,
  encodeInode,
  encodeSuper,
  extentKey,
  extentKeyFileBlock,
  extentBlockCount,
  extentCrc,
  extentVolBlock,
  freeInoKey,
  idRange,
  inodeKey,
  nameHashBase,
  prefixRange,
} from './layout';
import { Mutex, RwLock } from './mutex';
import { isDotName, nameBytes, symlinkTargetBytes } from './names';
import { ReadBuffers } from './read-buffers';
import { type CachedInode, type DirListing, ReadCache } from './read-cache';
import { Staging } from './staging';
import { type Run, WriteBuffer } from './write-buffer';

export interface EngineLogger {
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface FileSystemOpenOptions {
  fsid: bigint;
  clock: () => Timespec;
  random: (n: number) => Buffer;
  logger?: EngineLogger;
  /** Budget of buffered UNSTABLE data (default 256 MiB). */
  writeBufferBytes?: number;
  /** Decoded inodes kept for the read paths (default 65536). */
  cachedInodes?: number;
  /** Directory entries kept in cached listings (default 262144); one listing holds at most
   * 16384 entries or a sixteenth of this, whichever is smaller. */
  cachedDirEntries?: number;
  /** Reply records kept (`recordReply`): the newest this many (default 4096)... */
  replyRecordsMax?: number;
  /** ...and at most this many bytes of them, keys and values (default 4 MiB). */
  replyBytesMax?: number;
  /** Files read sequentially whose next chunk is read ahead (default 32; 0 turns readahead
   * off). Each holds at most one chunk of the size its reader asks for. */
  readaheadStreams?: number;
  /** Told of every chunk read ahead: when it starts, then whether a read used it or it was
   * dropped (stale, passed by the reader, evicted, closed). For metrics. */
  onReadahead?: (outcome: ReadaheadOutcome) => void;
  /** Read buffers of 64 KiB and more kept for reuse once their reader releases them
   * (`ReadResult.release`; read-buffers.ts), in bytes (default 32 MiB; 0 keeps none). */
  readBufferBytes?: number;
}

export type ReadaheadOutcome = 'started' | 'used' | 'dropped';

/** Reply records staged into one transaction at most: keeps a busy moment's records from
 * swelling an operation's log record (the rest go in the next transactions). */
const REPLY_STAGE_BYTES_MAX = 16 * 1024;
/** Bytes a reply record costs against `replyBytesMax`: its key plus its value. */
const REPLY_KEY_BYTES = 9;

interface ReplySlot {
  seq: bigint;
  /** The encoded value; `key` and `reply` are views into it. */
  value: Buffer;
  key: Buffer;
  reply: Buffer;
}

function replySlot(seq: bigint, value: Buffer): ReplySlot {
  const { key, reply } = decodeReply(value);
  return { seq, value, key, reply };
}

/** Blocks written and applied per flush step: bounds the memory of one aggregated write. */
const FLUSH_BATCH_BLOCKS = 2048;
const READDIR_BATCH = 128;
/** Files whose last READ's end is remembered, to tell sequential readers (see noteRead). */
const READ_ENDS_KEPT = 4096;
/** Inodes loaded together by READDIRPLUS: bounds the loads a reply that fills up wastes. */
const READDIR_ATTR_GROUP = 16;

/**
 * The next chunk of a file read sequentially, read while the client handles the current one.
 * It was read under a shared file lock taken when it started; `version` is the file's version
 * then, so any change since (every change releases an exclusive lock, which bumps the version)
 * makes it stale. A failed read ahead settles to undefined: the client's own read repeats it and
 * reports the error.
 */
interface Prefetch {
  first: number;
  count: number;
  version: number;
  blocks: Promise<Buffer | undefined>;
}

class FileState {
  /** Shared by reads; exclusive for anything that changes the file's data, size or extents. */
  readonly lock = new RwLock();
  /** Bumped at every release of the exclusive lock: a prefetch from before it is stale. */
  version = 0;
  prefetch: Prefetch | undefined;
  /** Serializes this file's flushes; their device writes run outside `lock`. */
  readonly flushLock = new Mutex();
  readonly dirty = new WriteBuffer();
  /** Bumped by every truncate: a flush that wrote data before one must not apply its extents. */
  truncSeq = 0;
  /** Set once the inode is gone: buffered data is discarded, flushes become no-ops. */
  dropped = false;
  /** Next volume block after this file's last flush: allocation hint for contiguity. */
  hint: number | undefined;
  /**
   * Size and times of UNSTABLE writes not yet in the inode record. RFC 1813 §3.3.7 lets them
   * become durable with the data, at COMMIT; until then every inode load sees them overlaid.
   */
  pending: { size: number; mtime: Timespec; ctime: Timespec } | undefined;
  /** Bumped at every change of `pending`: a record loaded before the change must not clear it. */
  pendingSeq = 0;
  constructor(
    readonly ino: bigint,
    readonly generation: number,
  ) {}
}

/** The inodes and directories whose records a transaction changes (for the read cache). */
function touched(puts: Array<[Buffer, Buffer]>, dels: Buffer[]): { inos: Set<bigint>; dirs: Set<bigint> } {
  const inos = new Set<bigint>();
  const dirs = new Set<bigint>();
  const note = (k: Buffer): void => {
    if (k.length < 9) return;
    if (k[0] === KeyPrefix.INODE) inos.add(k.readBigUInt64BE(1));
    else if (k[0] === KeyPrefix.DIRENT) dirs.add(k.readBigUInt64BE(1));
  };
  for (const [k] of puts) note(k);
  for (const k of dels) note(k);
  return { inos, dirs };
}

/** Thrown inside a flush whose file disappeared meanwhile: not an error for anyone. */
class FileGone extends Error {}

function freezeAttr(a: Attr): Attr {
  Object.freeze(a.atime);
  Object.freeze(a.mtime);
  Object.freeze(a.ctime);
  return Object.freeze(a);
}

/** The listing of a directory too long to cache whole. */
const BIG_DIR: DirListing = { big: true, cookies: [], names: [], inos: [] };

const nullLogger: EngineLogger = { warn() {}, error() {} };

function wccOf(r: InodeRecord): WccAttr {
  return { size: BigInt(r.size), mtime: r.mtime, ctime: r.ctime };
}

function sameTime(a: Timespec, b: Timespec): boolean {
  return a.sec === b.sec && a.nsec === b.nsec;
}

export class Engine implements FileSystem {
  readonly fsid: bigint;
  readonly root: FileRef;
  readonly info: FsInfo = {
    maxFileSize: BigInt(MAX_FILE_BYTES),
    blockSize: BLOCK_BYTES,
    timeDeltaNs: 1,
    maxNameBytes: MAX_NAME_BYTES,
    maxLinks: MAX_LINKS,
  };
  readonly writeVerifier: Buffer;

  private readonly meta = new Mutex();
  private readonly files = new Map<InoKey, FileState>();
  /**
   * Every file state whose `pending` is set, until it is cleared or the state discarded. When
   * empty (no UNSTABLE write awaits its flush), attributes need no overlay and `visible` skips
   * the per-file lookup: READDIRPLUS asks it for every entry, and turning a BigInt inode number
   * into a map key costs ~100 ns in this V8.
   */
  private readonly pendingFiles = new Set<FileState>();
  /** `pendingSeq` of the file when a record was loaded with its pending values overlaid. */
  private readonly loadedSeq = new WeakMap<InodeRecord, number>();
  private readonly clock: () => Timespec;
  private readonly log: EngineLogger;
  private readonly budgetBlocks: number;
  /** Blocks kept free for metadata so that remove and truncate can always proceed. */
  private readonly reserveBlocks: number;
  private bufferedBlocks = 0;
  private budgetWaiters: Array<() => void> = [];
  private flushLoop: Promise<void> | undefined;
  private flushError: unknown;
  private lastLsn = 0n;
  private closed = false;
  /** Bumped whenever an exclusive file lock is released: a read that resolved its inode before
   * taking its shared lock re-resolves only when some file changed meanwhile. */
  private dataEpoch = 0;
  private readonly cache: ReadCache;
  private readonly readaheadStreams: number;
  private readonly readBuffers: ReadBuffers;
  private readonly onReadahead: ((outcome: ReadaheadOutcome) => void) | undefined;
  /** Files holding a prefetch, oldest first (a Set keeps insertion order). */
  private readonly prefetching = new Set<FileState>();
  /** Where the last READ of each recently read file ended, oldest first (file states come and
   * go between reads, so this outlives them). */
  private readonly readEnds = new Map<InoKey, number>();
  private readonly replyRecordsMax: number;
  private readonly replyBytesMax: number;
  private readonly replies: ReplySlot[] = [];
  private replyBytes = 0;
  private nextReplySeq = 0n;
  private stagedReplySeq = 0n;
  /** The log position of the last applied transaction that carried reply records. */
  private replyLsn: bigint | undefined;
  private replyDels: bigint[] = [];
  private replyApplyScheduled = false;

  private constructor(
    private readonly volume: Volume,
    private superRec: SuperRecord,
    rootGeneration: number,
    opts: FileSystemOpenOptions,
  ) {
    if (volume.blockBytes !== BLOCK_BYTES) throw new Error(`engine needs ${BLOCK_BYTES}-byte blocks, volume has ${volume.blockBytes}`);
    this.fsid = opts.fsid;
    this.clock = opts.clock;
    this.log = opts.logger ?? nullLogger;
    this.root = { ino: ROOT_INO, generation: rootGeneration };
    const dirEntries = opts.cachedDirEntries ?? 262_144;
    this.cache = new ReadCache({ inodes: opts.cachedInodes ?? 65_536, dirEntries, maxListing: Math.min(16_384, Math.floor(dirEntries / 16)) });
    const budgetBytes = opts.writeBufferBytes ?? 256 * 1024 * 1024;
    this.budgetBlocks = Math.max(1, Math.floor(budgetBytes / BLOCK_BYTES));
    this.readaheadStreams = opts.readaheadStreams ?? 32;
    this.readBuffers = new ReadBuffers(opts.readBufferBytes ?? 32 * 1024 * 1024);
    this.onReadahead = opts.onReadahead;
    this.replyRecordsMax = opts.replyRecordsMax ?? 4096;
    this.replyBytesMax = opts.replyBytesMax ?? 4 * 1024 * 1024;
    if (!(this.replyRecordsMax >= 1 && this.replyBytesMax >= 4096)) throw new RangeError('reply record bounds: at least 1 record and 4096 bytes');
    const maxBlocks = volume.stats().maxBlocks;
    this.reserveBlocks = Math.min(Math.max(32, Math.floor(maxBlocks / 200)), 65536);
    // RFC 1813 §3.3.7 writeverf3: a new value per open, so clients resend uncommitted data
    // after a restart or failover. bootId is random per open; the epoch separates owners.
    const h = createHash('sha256').update(volume.bootId);
    const e = Buffer.alloc(8);
    e.writeBigUInt64BE(volume.epoch & 0xffff_ffff_ffff_ffffn);
    this.writeVerifier = h.update(e).digest().subarray(0, 8);
  }

  static async open(volume: Volume, opts: FileSystemOpenOptions): Promise<Engine> {
    const sb = await volume.get(SUPER_KEY);
    if (!sb) throw new Error('volume holds no filesystem (no engine superblock record)');
    const superRec = decodeSuper(sb);
    const rootRaw = await volume.get(inodeKey(ROOT_INO));
    if (!rootRaw) throw new Error('filesystem has no root inode');
    const root = decodeInode(ROOT_INO, rootRaw);
    const engine = new Engine(volume, superRec, root.generation, opts);
    engine.lastLsn = volume.stats().lastLsn;
    await engine.loadReplies();
    return engine;
  }

  /** The reply records that survived (a filesystem from before them has none). */
  private async loadReplies(): Promise<void> {
    const [from, to] = prefixRange(KeyPrefix.REPLY);
    let last = -1n;
    await this.volume.scan(from, to, (k, v) => {
      if (k.length !== 9) {
        this.log.error({ key: k.toString('hex') }, 'reply record with a bad key: ignored (fsck reports it)');
        return true;
      }
      const seq = k.readBigUInt64BE(1);
      last = seq;
      try {
        this.replies.push(replySlot(seq, v));
        this.replyBytes += REPLY_KEY_BYTES + v.length;
      } catch (e) {
        this.log.error({ seq: seq.toString(), err: e }, 'reply record does not decode: deleted with the next transaction');
        this.replyDels.push(seq);
      }
      return true;
    });
    this.nextReplySeq = last + 1n;
    this.stagedReplySeq = this.nextReplySeq;
    this.evictReplies();
    if (this.replyDels.length > 0) this.scheduleReplies();
  }

  // ---------------------------------------------------------------- helpers

  private now(): Timespec {
    const t = this.clock();
    return { sec: Math.max(0, Math.floor(t.sec)), nsec: Math.min(999_999_999, Math.max(0, Math.floor(t.nsec))) };
  }

  private assertOpen(): void {
    if (this.closed) throw new FsError(FsErrorCode.STALE, 'filesystem is closed');
  }

  toAttr(r: InodeRecord): Attr {
    return {
      type: r.type,
      mode: r.mode,
      nlink: r.nlink,
      uid: r.uid,
      gid: r.gid,
      size: BigInt(r.size),
      used: BigInt(r.usedBlocks) * BigInt(BLOCK_BYTES),
      rdevMajor: r.rdevMajor,
      rdevMinor: r.rdevMinor,
      fsid: this.fsid,
      ino: r.ino,
      generation: r.generation,
      atime: r.atime,
      mtime: r.mtime,
      ctime: r.ctime,
    };
  }

  /** An inode as clients see it: the record with the file's buffered size and times overlaid. */
  private async loadInode(src: { get(k: Buffer): Promise<Buffer | undefined> }, ino: bigint): Promise<InodeRecord | undefined> {
    const raw = await src.get(inodeKey(ino));
    if (!raw) return undefined;
    const r = decodeInode(ino, raw);
    const st = this.files.get(inoKey(ino));
    if (st?.pending && st.generation === r.generation) {
      r.size = st.pending.size;
      r.mtime = st.pending.mtime;
      r.ctime = st.pending.ctime;
      this.loadedSeq.set(r, st.pendingSeq);
    }
    return r;
  }

  /** The inode a ref names, or STALE when it is gone or was reused. */
  private async resolve(ref: FileRef, src: { get(k: Buffer): Promise<Buffer | undefined> } = this.volume): Promise<InodeRecord> {
    this.assertOpen();
    const r = await this.loadInode(src, ref.ino);
    if (!r || r.generation !== ref.generation) throw new FsError(FsErrorCode.STALE, `stale file handle (ino ${ref.ino})`);
    return r;
  }

  private async resolveDir(ref: FileRef, src: { get(k: Buffer): Promise<Buffer | undefined> } = this.volume): Promise<InodeRecord> {
    const r = await this.resolve(ref, src);
    if (r.type !== FileType.DIR) throw new FsError(FsErrorCode.NOTDIR, 'not a directory', { after: this.toAttr(r) });
    return r;
  }

  /** A decoded inode from the read cache, loaded (and cached) when missing; undefined if gone. */
  private async loadCached(ino: bigint): Promise<CachedInode | undefined> {
    const t = this.cache.inodes.begin(ino);
    let c: CachedInode | undefined;
    try {
      const raw = await this.volume.get(inodeKey(ino));
      // Frozen: cached attributes are handed to every reader as they are.
      if (raw) c = { attr: freezeAttr(decodeInodeAttr(ino, raw, this.fsid)), parent: inodeParent(raw) };
    } finally {
      this.cache.inodes.end(ino, t, c);
    }
    return c;
  }

  /** The cached inode a ref names, or STALE when it is gone or was reused. */
  private async cachedRef(ref: FileRef): Promise<CachedInode> {
    this.assertOpen();
    const c = this.cache.inodes.get(ref.ino) ?? (await this.loadCached(ref.ino));
    if (!c || c.attr.generation !== ref.generation) throw new FsError(FsErrorCode.STALE, `stale file handle (ino ${ref.ino})`);
    return c;
  }

  /** Cached attributes as clients see them: the file's buffered size and times overlaid. */
  private visible(a: Attr): Attr {
    if (this.pendingFiles.size === 0) return a;
    const st = this.files.get(inoKey(a.ino));
    if (st?.pending && st.generation === a.generation) return { ...a, size: BigInt(st.pending.size), mtime: st.pending.mtime, ctime: st.pending.ctime };
    return a;
  }

  private dirFail(code: FsErrorCode, dir: InodeRecord, msg?: string): FsError {
    return new FsError(code, msg, { before: wccOf(dir), after: this.toAttr(dir) });
  }

  /**
   * Runs a metadata read-modify-write under the mutex, applies what it staged, and (unless
   * `durable` is false) resolves only after the log covering it is synced. `answer` builds the
   * reply record of the result, written in the same transaction (`ReplyBuilder`).
   */
  private async mutate<T>(fn: (tx: Staging, now: Timespec) => Promise<T>, durable = true, answer?: ReplyBuilder<T>): Promise<T> {
    this.assertOpen();
    const release = await this.meta.lock();
    let lsn: bigint | undefined;
    let result: T;
    let withReplies = false;
    try {
      const tx = new Staging(this.volume);
      result = await fn(tx, this.now());
      const own = answer === undefined ? undefined : this.buildReply(answer, result);
      if (own !== undefined || this.stagedReplySeq < this.nextReplySeq || this.replyDels.length > 0) {
        this.stageReplies(tx, own);
        withReplies = true;
      }
      if (!tx.isEmpty) {
        const t = tx.toTransaction();
        // The read cache must not outlive what this changes: dropped now, and again once the
        // apply settled (a load overlapping it may have read either state).
        const { inos, dirs } = touched(t.puts, t.dels);
        this.cache.invalidate(inos, dirs);
        try {
          lsn = await this.volume.apply(t);
        } finally {
          this.cache.invalidate(inos, dirs);
        }
        if (lsn > this.lastLsn) this.lastLsn = lsn;
        if (withReplies) this.replyLsn = lsn;
        if (own !== undefined) this.keepReply(own);
        for (const f of tx.afterApply) f();
      }
    } finally {
      release();
    }
    if (durable && lsn !== undefined) await this.volume.durable(lsn);
    // Nobody may await this transaction, yet its reply records must reach the log by themselves
    // (a metadata volume writes every applied transaction anyway; this asks for it explicitly).
    else if (withReplies && lsn !== undefined) this.volume.durable(lsn).catch((err: unknown) => this.replyFailed(err));
    return result;
  }

  // ---------------------------------------------------------------- reply records

  recordReply(key: Buffer, reply: Buffer): void {
    if (this.closed) return;
    const slot = replySlot(this.nextReplySeq, encodeReply(key, reply));
    this.nextReplySeq++;
    this.keepReply(slot);
    this.scheduleReplies();
  }

  /** The slot of an operation's own reply (next sequence number, not yet taken), or undefined
   * when the builder keeps nothing or fails (the operation stands either way). */
  private buildReply<T>(answer: ReplyBuilder<T>, result: T): ReplySlot | undefined {
    try {
      const r = answer(result);
      return r === undefined ? undefined : replySlot(this.nextReplySeq, encodeReply(r.key, r.reply));
    } catch (err) {
      this.log.warn({ err }, 'reply record not built: a retransmit after a change of owner would run again');
      return undefined;
    }
  }

  private keepReply(slot: ReplySlot): void {
    this.replies.push(slot);
    this.replyBytes += REPLY_KEY_BYTES + slot.value.length;
    this.evictReplies();
  }

  replyRecords(): ReplyRecord[] {
    return this.replies.map((r) => ({ key: r.key, reply: r.reply }));
  }

  async repliesDurable(): Promise<void> {
    if (this.closed) return;
    // Not in any transaction yet: one of their own (mutate stages every pending record; if an
    // operation that got the lock first staged them, this one has nothing to write).
    if (this.stagedReplySeq < this.nextReplySeq) await this.mutate(() => Promise.resolve(undefined));
    // Whichever transaction carried them has applied once the lock comes free: wait for its log.
    const release = await this.meta.lock();
    release();
    if (this.replyLsn !== undefined) await this.volume.durable(this.replyLsn);
  }

  /** Drops the oldest records past the bounds (always keeping the newest one). */
  private evictReplies(): void {
    while (this.replies.length > 1 && (this.replies.length > this.replyRecordsMax || this.replyBytes > this.replyBytesMax)) {
      const old = this.replies.shift()!;
      this.replyBytes -= REPLY_KEY_BYTES + old.value.length;
      // One never staged simply is never written.
      if (old.seq < this.stagedReplySeq) this.replyDels.push(old.seq);
    }
  }

  /**
   * Stages pending deletes and the oldest unstaged records (up to REPLY_STAGE_BYTES_MAX), or,
   * with an operation's own record `own`, every unstaged record and then `own` (its sequence
   * number is the next one; kept in `replies` once the transaction applied).
   */
  private stageReplies(tx: Staging, own?: ReplySlot): void {
    for (const seq of this.replyDels) tx.del(replyKey(seq));
    this.replyDels = [];
    // Unstaged records are the newest: a suffix of `replies`.
    let i = this.replies.length;
    while (i > 0 && this.replies[i - 1]!.seq >= this.stagedReplySeq) i--;
    let bytes = 0;
    for (; i < this.replies.length && (own !== undefined || bytes < REPLY_STAGE_BYTES_MAX); i++) {
      const r = this.replies[i]!;
      tx.put(replyKey(r.seq), r.value);
      bytes += REPLY_KEY_BYTES + r.value.length;
      this.stagedReplySeq = r.seq + 1n;
    }
    if (own !== undefined) {
      tx.put(replyKey(own.seq), own.value);
      this.nextReplySeq = own.seq + 1n;
      this.stagedReplySeq = this.nextReplySeq;
    }
    if (this.stagedReplySeq < this.nextReplySeq) this.scheduleReplies();
  }

  /** A transaction of their own for records no operation took along (next event-loop turn). */
  private scheduleReplies(): void {
    if (this.replyApplyScheduled) return;
    this.replyApplyScheduled = true;
    setImmediate(() => {
      this.replyApplyScheduled = false;
      if (this.closed || (this.stagedReplySeq >= this.nextReplySeq && this.replyDels.length === 0)) return;
      this.mutate(() => Promise.resolve(undefined)).catch((err: unknown) => this.replyFailed(err));
    });
  }

  private replyFailed(err: unknown): void {
    // The operations they answer stand; only a retransmit after a change of owner would run again.
    if (!this.closed) this.log.warn({ err }, 'reply records could not be written');
  }

  /** Stages an inode record; one loaded with buffered size and times overlaid carries them into
   * the log, so they stop being pending once it is applied (unless a write changed them since). */
  private putInode(tx: Staging, r: InodeRecord): void {
    tx.put(inodeKey(r.ino), encodeInode(r));
    const seq = this.loadedSeq.get(r);
    const st = this.files.get(inoKey(r.ino));
    if (seq !== undefined && st && st.generation === r.generation) {
      tx.afterApply.push(() => {
        if (st.pendingSeq === seq) {
          st.pending = undefined;
          this.pendingFiles.delete(st);
        }
      });
    }
  }

  /** Space for metadata growth: namespace-growing operations stop at half the reserve. */
  private checkMetaSpace(dir: InodeRecord): void {
    if (this.volume.stats().freeBlocks < this.reserveBlocks / 2) throw this.dirFail(FsErrorCode.NOSPC, dir, 'filesystem is full');
  }

  private async allocIno(tx: Staging): Promise<{ ino: bigint; generation: number }> {
    const [from, to] = prefixRange(KeyPrefix.FREE_INO);
    const free = await tx.scan(from, to, 1);
    const next: SuperRecord = { ...this.superRec, inodeCount: this.superRec.inodeCount + 1n };
    let ino: bigint;
    let generation: number;
    const f = free[0];
    if (f && f[1].readUInt32BE(0) < 0xffff_fffe) {
      ino = f[0].readBigUInt64BE(1);
      generation = f[1].readUInt32BE(0) + 1;
      tx.del(f[0]);
    } else {
      if (f) tx.del(f[0]); // generations exhausted: retire the number for good
      ino = next.nextIno;
      next.nextIno += 1n;
      generation = 1;
    }
    tx.put(SUPER_KEY, encodeSuper(next));
    tx.afterApply.push(() => {
      this.superRec = next;
    });
    return { ino, generation };
  }

  /** Deletes an inode whose last link went away: extents freed, number kept for reuse. */
  private async freeInode(tx: Staging, r: InodeRecord): Promise<void> {
    tx.del(inodeKey(r.ino));
    tx.put(freeInoKey(r.ino), encodeFreeIno(r.generation));
    if (r.type === FileType.REG) await this.truncateExtents(tx, r.ino, 0);
    const next: SuperRecord = { ...this.superRec, inodeCount: this.superRec.inodeCount - 1n };
    tx.put(SUPER_KEY, encodeSuper(next));
    tx.afterApply.push(() => {
      this.superRec = next;
      const st = this.files.get(inoKey(r.ino));
      if (st && st.generation === r.generation) {
        st.dropped = true;
        this.discard(st);
        this.files.delete(inoKey(r.ino));
      }
    });
  }

  /** `base`: nameHashBase(name), when the caller has it already (a hash costs a few µs). */
  private async findEntry(
    tx: Staging | undefined,
    dir: bigint,
    name: Buffer,
    base = nameHashBase(name),
  ): Promise<{ key: Buffer; ino: bigint; type: FileType; freeSlot: number } | { key: undefined; freeSlot: number }> {
    const from = direntKey(dir, base);
    const to = direntKey(dir, base + BigInt(COLLISION_SLOTS));
    let rows: Array<[Buffer, Buffer]>;
    if (tx) rows = await tx.scan(from, to);
    else {
      rows = [];
      await this.volume.scan(from, to, (k, v) => {
        rows.push([k, v]);
        return true;
      });
    }
    let freeSlot = 0;
    for (const [k, v] of rows) {
      const d = decodeDirent(v);
      if (d.name.equals(name)) return { key: k, ino: d.ino, type: d.type, freeSlot: -1 };
      const slot = Number(direntCookie(k) - base);
      if (slot === freeSlot) freeSlot++;
    }
    if (freeSlot >= COLLISION_SLOTS) freeSlot = -1;
    return { key: undefined, freeSlot };
  }

  private addEntry(tx: Staging, dir: bigint, name: Buffer, freeSlot: number, ino: bigint, type: FileType, base = nameHashBase(name)): void {
    // 256 names with one 55-bit hash cannot happen by chance; a corrupt directory could.
    if (freeSlot < 0) throw new Error(`directory ${dir}: hash collision slots exhausted`);
    tx.put(direntKey(dir, base + BigInt(freeSlot)), encodeDirent(ino, type, name));
  }

  private async isEmptyDir(tx: Staging, dir: bigint): Promise<boolean> {
    const [from, to] = idRange(KeyPrefix.DIRENT, dir);
    return (await tx.scan(from, to, 1)).length === 0;
  }

  private applySetAttrs(r: InodeRecord, attrs: SetAttrs, now: Timespec): void {
    if (attrs.mode !== undefined) r.mode = attrs.mode & 0o7777;
    if (attrs.uid !== undefined) r.uid = attrs.uid >>> 0;
    if (attrs.gid !== undefined) r.gid = attrs.gid >>> 0;
    if (attrs.atime !== undefined) r.atime = attrs.atime === 'now' ? now : { ...attrs.atime };
    if (attrs.mtime !== undefined) r.mtime = attrs.mtime === 'now' ? now : { ...attrs.mtime };
  }

  private newInode(
    ino: bigint,
    generation: number,
    type: FileType,
    attrs: SetAttrs,
    owner: NewNodeOwner,
    now: Timespec,
    defaultMode: number,
  ): InodeRecord {
    const r: InodeRecord = {
      ino,
      type,
      mode: defaultMode,
      nlink: type === FileType.DIR ? 2 : 1,
      uid: owner.uid >>> 0,
      gid: owner.gid >>> 0,
      generation,
      size: type === FileType.DIR ? BLOCK_BYTES : 0,
      usedBlocks: 0,
      rdevMajor: 0,
      rdevMinor: 0,
      atime: now,
      mtime: now,
      ctime: now,
      parent: 0n,
    };
    this.applySetAttrs(r, attrs, now);
    return r;
  }

  /** Shared body of create/mkdir/symlink/mknod: validate, allocate an inode, link it in. */
  private async makeNode(
    dirRef: FileRef,
    name: string,
    build: (ino: bigint, generation: number, now: Timespec, dir: InodeRecord) => InodeRecord,
    onExisting?: (existing: InodeRecord, dir: InodeRecord) => NewNode | undefined,
    answer?: ReplyBuilder<NewNode>,
  ): Promise<NewNode> {
    const nb = nameBytes(name);
    const base = nameHashBase(nb);
    return this.mutate(async (tx, now) => {
      const dir = await this.resolveDir(dirRef, tx);
      if (isDotName(name)) throw this.dirFail(FsErrorCode.EXIST, dir);
      const found = await this.findEntry(tx, dir.ino, nb, base);
      if (found.key) {
        const existing = await this.loadInode(tx, found.ino);
        const r = existing && onExisting ? onExisting(existing, dir) : undefined;
        if (r) return r;
        throw this.dirFail(FsErrorCode.EXIST, dir);
      }
      this.checkMetaSpace(dir);
      const before = wccOf(dir);
      const { ino, generation } = await this.allocIno(tx);
      const node = build(ino, generation, now, dir);
      if (node.type === FileType.DIR) {
        if (dir.nlink >= MAX_LINKS) throw this.dirFail(FsErrorCode.MLINK, dir);
        dir.nlink++;
      }
      this.putInode(tx, node);
      this.addEntry(tx, dir.ino, nb, found.freeSlot, ino, node.type, base);
      dir.mtime = now;
      dir.ctime = now;
      this.putInode(tx, dir);
      return { attr: this.toAttr(node), dirWcc: { before, after: this.toAttr(dir) } };
    }, true, answer);
  }

  // ---------------------------------------------------------------- attributes

  async getattr(file: FileRef): Promise<Attr> {
    return this.visible((await this.cachedRef(file)).attr);
  }

  async setattr(file: FileRef, attrs: SetAttrs, guardCtime?: Timespec, answer?: ReplyBuilder<Wcc>): Promise<Wcc> {
    if (attrs.size === undefined) {
      return this.mutate(async (tx, now) => {
        const r = await this.resolve(file, tx);
        const before = wccOf(r);
        if (guardCtime && !sameTime(guardCtime, r.ctime)) {
          throw new FsError(FsErrorCode.NOT_SYNC, 'ctime guard mismatch', { before, after: this.toAttr(r) });
        }
        this.applySetAttrs(r, attrs, now);
        r.ctime = now;
        this.putInode(tx, r);
        return { before, after: this.toAttr(r) };
      }, true, answer);
    }
    const size = attrs.size;
    const cur = await this.resolve(file);
    if (cur.type === FileType.DIR) throw new FsError(FsErrorCode.ISDIR, 'size of a directory', { after: this.toAttr(cur) });
    if (cur.type !== FileType.REG) throw new FsError(FsErrorCode.INVAL, 'size of a special file', { after: this.toAttr(cur) });
    if (size < 0n || size > BigInt(MAX_FILE_BYTES)) throw new FsError(FsErrorCode.FBIG, 'size beyond the maximum file size', { after: this.toAttr(cur) });
    const newSize = Number(size);
    const st = this.fileState(cur);
    const release = await this.lockFile(st);
    let lsn: bigint | undefined;
    let reserved: Extent[] = [];
    let applied = false;
    try {
      const r0 = await this.resolve(file);
      // Shrinking to the middle of a block: that block's tail must read as zeros if the file
      // grows again, so its new image goes out copy-on-write in the same transaction.
      let boundary: { fileBlock: number; image: Buffer } | undefined;
      const tail = newSize % BLOCK_BYTES;
      const fb = Math.floor(newSize / BLOCK_BYTES);
      // (A hole stays a hole: only a block holding data needs its tail cleared.)
      if (newSize < r0.size && tail !== 0 && (st.dirty.covering(fb) || (await this.extentsIn(new Staging(this.volume), r0.ino, fb, fb + 1)).length > 0)) {
        const image = Buffer.from(await this.readBlocksOf(st, r0.ino, fb, 1));
        image.fill(0, tail);
        boundary = { fileBlock: fb, image };
        reserved = await this.allocData(1, st.hint);
        await this.volume.writeBlocks(reserved[0]!.block, image);
      }
      const result = await this.mutate(async (tx, now) => {
        const r = await this.resolve(file, tx);
        const before = wccOf(r);
        if (guardCtime && !sameTime(guardCtime, r.ctime)) {
          throw new FsError(FsErrorCode.NOT_SYNC, 'ctime guard mismatch', { before, after: this.toAttr(r) });
        }
        this.applySetAttrs(r, attrs, now);
        if (newSize < r.size) {
          const keepBlocks = Math.ceil(newSize / BLOCK_BYTES);
          r.usedBlocks -= await this.truncateExtents(tx, r.ino, keepBlocks);
          if (boundary) {
            const v = reserved[0]!.block;
            const rec: ExtentRecord = { fileBlock: boundary.fileBlock, volBlock: v, count: 1, crcs: Uint32Array.of(crc32c(boundary.image)) };
            r.usedBlocks += 1 - (await this.replaceExtents(tx, r.ino, [rec]));
            tx.allocated.push(...reserved);
          }
        }
        r.size = newSize;
        // POSIX truncate: mtime and ctime change (unless the caller set mtime explicitly).
        if (attrs.mtime === undefined) r.mtime = now;
        r.ctime = now;
        this.putInode(tx, r);
        return { before, after: this.toAttr(r) };
      }, false, answer);
      applied = true;
      lsn = this.lastLsn;
      // Buffered blocks past the new end are gone; the boundary image was written above.
      const keep = Math.ceil(newSize / BLOCK_BYTES);
      this.bufferedBlocks -= st.dirty.drop(keep, Infinity);
      if (boundary) this.bufferedBlocks -= st.dirty.drop(boundary.fileBlock, boundary.fileBlock + 1);
      st.truncSeq++;
      this.wakeBudget();
      return result;
    } finally {
      if (!applied && reserved.length) this.volume.unreserve(reserved);
      this.releaseFile(st, release);
      if (applied && lsn !== undefined) await this.volume.durable(lsn);
    }
  }

  // ---------------------------------------------------------------- namespace

  async lookup(dirRef: FileRef, name: string): Promise<{ attr: Attr; dirAttr: Attr }> {
    const dir = await this.cachedRef(dirRef);
    const dirAttr = this.visible(dir.attr);
    if (dirAttr.type !== FileType.DIR) throw new FsError(FsErrorCode.NOTDIR, 'not a directory', { after: dirAttr });
    if (name === '.') return { attr: dirAttr, dirAttr };
    if (name === '..') {
      const p = dirAttr.ino === ROOT_INO ? dir : (this.cache.inodes.get(dir.parent) ?? (await this.loadCached(dir.parent)));
      if (!p) throw new FsError(FsErrorCode.IO, `directory ${dirAttr.ino} has a missing parent`, { after: dirAttr });
      return { attr: this.visible(p.attr), dirAttr };
    }
    let nb: Buffer;
    try {
      nb = nameBytes(name);
    } catch (e) {
      if (e instanceof FsError) throw new FsError(e.code, e.message, { after: dirAttr });
      throw e;
    }
    const found = await this.findEntry(undefined, dirAttr.ino, nb);
    if (!found.key) throw new FsError(FsErrorCode.NOENT, `no entry "${name}"`, { after: dirAttr });
    const r = this.cache.inodes.get(found.ino) ?? (await this.loadCached(found.ino));
    if (!r) throw new FsError(FsErrorCode.IO, `entry "${name}" names missing inode ${found.ino}`, { after: dirAttr });
    return { attr: this.visible(r.attr), dirAttr };
  }

  async create(dir: FileRef, name: string, mode: CreateMode, owner: NewNodeOwner, answer?: ReplyBuilder<NewNode>): Promise<NewNode> {
    let truncateExisting: InodeRecord | undefined;
    const res = await this.makeNode(
      dir,
      name,
      (ino, generation, now) => {
        if (mode.how === 'exclusive') {
          const r = this.newInode(ino, generation, FileType.REG, {}, owner, now, 0);
          r.verifier = Buffer.from(mode.verifier.subarray(0, 8));
          return r;
        }
        const { size, ...rest } = mode.attrs;
        const r = this.newInode(ino, generation, FileType.REG, rest, owner, now, 0o644);
        if (size !== undefined && size > 0n) {
          if (size > BigInt(MAX_FILE_BYTES)) throw new FsError(FsErrorCode.FBIG, 'size beyond the maximum file size');
          r.size = Number(size);
        }
        return r;
      },
      (existing, d) => {
        const dirWcc = { before: wccOf(d), after: this.toAttr(d) };
        // RFC 1813 §3.3.8: a retransmitted EXCLUSIVE create finds the file it made.
        if (mode.how === 'exclusive') {
          if (existing.type === FileType.REG && existing.verifier && existing.verifier.equals(mode.verifier.subarray(0, 8))) {
            return { attr: this.toAttr(existing), dirWcc };
          }
          return undefined;
        }
        if (mode.how === 'unchecked' && existing.type === FileType.REG) {
          if (mode.attrs.size !== undefined) truncateExisting = existing;
          return { attr: this.toAttr(existing), dirWcc };
        }
        return undefined;
      },
      // An existing file to truncate: the answer goes with the truncation below.
      answer && ((r) => (truncateExisting ? undefined : answer(r))),
    );
    if (truncateExisting && mode.how === 'unchecked') {
      const ref = { ino: truncateExisting.ino, generation: truncateExisting.generation };
      const dirWcc = res.dirWcc;
      const answerTruncated = answer && ((w: Wcc) => (w.after === undefined ? undefined : answer({ attr: w.after, dirWcc })));
      const wcc = await this.setattr(ref, { size: mode.attrs.size }, undefined, answerTruncated);
      return { attr: wcc.after ?? (await this.getattr(ref)), dirWcc };
    }
    return res;
  }

  async mkdir(dir: FileRef, name: string, attrs: SetAttrs, owner: NewNodeOwner, answer?: ReplyBuilder<NewNode>): Promise<NewNode> {
    const { size: _size, ...rest } = attrs;
    const build = (ino: bigint, generation: number, now: Timespec, parent: InodeRecord): InodeRecord => {
      const r = this.newInode(ino, generation, FileType.DIR, rest, owner, now, 0o755);
      r.parent = parent.ino;
      return r;
    };
    return this.makeNode(dir, name, build, undefined, answer);
  }

  async symlink(dir: FileRef, name: string, target: string, attrs: SetAttrs, owner: NewNodeOwner, answer?: ReplyBuilder<NewNode>): Promise<NewNode> {
    const tb = symlinkTargetBytes(target);
    const { size: _size, ...rest } = attrs;
    const build = (ino: bigint, generation: number, now: Timespec): InodeRecord => {
      const r = this.newInode(ino, generation, FileType.LNK, rest, owner, now, 0o777);
      r.target = tb;
      r.size = tb.length;
      return r;
    };
    return this.makeNode(dir, name, build, undefined, answer);
  }

  async mknod(
    dir: FileRef,
    name: string,
    type: FileType.BLK | FileType.CHR | FileType.SOCK | FileType.FIFO,
    rdev: { major: number; minor: number },
    attrs: SetAttrs,
    owner: NewNodeOwner,
    answer?: ReplyBuilder<NewNode>,
  ): Promise<NewNode> {
    if (type !== FileType.BLK && type !== FileType.CHR && type !== FileType.SOCK && type !== FileType.FIFO) {
      throw new FsError(FsErrorCode.INVAL, `mknod of type ${String(type)}`);
    }
    const { size: _size, ...rest } = attrs;
    const build = (ino: bigint, generation: number, now: Timespec): InodeRecord => {
      const r = this.newInode(ino, generation, type, rest, owner, now, 0o644);
      if (type === FileType.BLK || type === FileType.CHR) {
        r.rdevMajor = rdev.major >>> 0;
        r.rdevMinor = rdev.minor >>> 0;
      }
      return r;
    };
    return this.makeNode(dir, name, build, undefined, answer);
  }

  async readlink(file: FileRef): Promise<{ target: string; attr: Attr }> {
    const r = await this.resolve(file);
    if (r.type !== FileType.LNK) throw new FsError(FsErrorCode.INVAL, 'not a symbolic link', { after: this.toAttr(r) });
    return { target: (r.target ?? Buffer.alloc(0)).toString('utf8'), attr: this.toAttr(r) };
  }

  async link(fileRef: FileRef, dirRef: FileRef, name: string, answer?: ReplyBuilder<NewNode>): Promise<NewNode> {
    const nb = nameBytes(name);
    const base = nameHashBase(nb);
    return this.mutate(async (tx, now) => {
      const file = await this.resolve(fileRef, tx);
      const dir = await this.resolveDir(dirRef, tx);
      // RFC 1813 §3.3.15 lists no ISDIR; like Linux (vfs_link), hard links to directories are EPERM.
      if (file.type === FileType.DIR) throw this.dirFail(FsErrorCode.PERM, dir, 'hard link to a directory');
      if (isDotName(name)) throw this.dirFail(FsErrorCode.EXIST, dir);
      const found = await this.findEntry(tx, dir.ino, nb, base);
      if (found.key) throw this.dirFail(FsErrorCode.EXIST, dir);
      if (file.nlink >= MAX_LINKS) throw this.dirFail(FsErrorCode.MLINK, dir);
      this.checkMetaSpace(dir);
      const before = wccOf(dir);
      file.nlink++;
      file.ctime = now;
      this.addEntry(tx, dir.ino, nb, found.freeSlot, file.ino, file.type, base);
      // When the file is the directory itself this cannot happen (directories are refused above).
      dir.mtime = now;
      dir.ctime = now;
      this.putInode(tx, file);
      this.putInode(tx, dir);
      return { attr: this.toAttr(file), dirWcc: { before, after: this.toAttr(dir) } };
    }, true, answer);
  }

  async remove(dirRef: FileRef, name: string, answer?: ReplyBuilder<Wcc>): Promise<Wcc> {
    return this.unlinkEntry(dirRef, name, false, answer);
  }

  async rmdir(dirRef: FileRef, name: string, answer?: ReplyBuilder<Wcc>): Promise<Wcc> {
    return this.unlinkEntry(dirRef, name, true, answer);
  }

  private async unlinkEntry(dirRef: FileRef, name: string, wantDir: boolean, answer: ReplyBuilder<Wcc> | undefined): Promise<Wcc> {
    const nb = nameBytes(name);
    const base = nameHashBase(nb);
    return this.mutate(async (tx, now) => {
      const dir = await this.resolveDir(dirRef, tx);
      if (name === '.') throw this.dirFail(wantDir ? FsErrorCode.INVAL : FsErrorCode.ISDIR, dir);
      if (name === '..') throw this.dirFail(wantDir ? FsErrorCode.NOTEMPTY : FsErrorCode.ISDIR, dir);
      const found = await this.findEntry(tx, dir.ino, nb, base);
      if (!found.key) throw this.dirFail(FsErrorCode.NOENT, dir);
      const target = await this.loadInode(tx, found.ino);
      if (!target) throw new Error(`directory ${dir.ino}: entry "${name}" names missing inode ${found.ino}`);
      if (wantDir && target.type !== FileType.DIR) throw this.dirFail(FsErrorCode.NOTDIR, dir);
      if (!wantDir && target.type === FileType.DIR) throw this.dirFail(FsErrorCode.ISDIR, dir);
      if (wantDir && !(await this.isEmptyDir(tx, target.ino))) throw this.dirFail(FsErrorCode.NOTEMPTY, dir);
      const before = wccOf(dir);
      tx.del(found.key);
      await this.dropLink(tx, target, now);
      if (target.type === FileType.DIR) dir.nlink--;
      dir.mtime = now;
      dir.ctime = now;
      this.putInode(tx, dir);
      return { before, after: this.toAttr(dir) };
    }, true, answer);
  }

  /** One directory entry naming `r` went away: drop a link, or the inode with its last. */
  private async dropLink(tx: Staging, r: InodeRecord, now: Timespec): Promise<void> {
    if (r.type === FileType.DIR || r.nlink <= 1) {
      await this.freeInode(tx, r);
      return;
    }
    r.nlink--;
    r.ctime = now;
    this.putInode(tx, r);
  }

  async rename(fromDirRef: FileRef, fromName: string, toDirRef: FileRef, toName: string, answer?: ReplyBuilder<RenameResult>): Promise<RenameResult> {
    const fromNb = nameBytes(fromName);
    const toNb = nameBytes(toName);
    const toBase = nameHashBase(toNb);
    return this.mutate(async (tx, now) => {
      const fromDir = await this.resolveDir(fromDirRef, tx);
      const sameDir = fromDir.ino === toDirRef.ino;
      let toDir: InodeRecord;
      try {
        toDir = sameDir ? fromDir : await this.resolveDir(toDirRef, tx);
      } catch (e) {
        if (e instanceof FsError) throw new FsError(e.code, e.message, { before: wccOf(fromDir), after: this.toAttr(fromDir) }, e.wcc);
        throw e;
      }
      const fail = (code: FsErrorCode, msg?: string): FsError =>
        new FsError(code, msg, { before: wccOf(fromDir), after: this.toAttr(fromDir) }, { before: wccOf(toDir), after: this.toAttr(toDir) });
      if (isDotName(fromName) || isDotName(toName)) throw fail(FsErrorCode.INVAL, 'rename of "." or ".."');
      const src = await this.findEntry(tx, fromDir.ino, fromNb);
      if (!src.key) throw fail(FsErrorCode.NOENT);
      const srcInode = await this.loadInode(tx, src.ino);
      if (!srcInode) throw new Error(`directory ${fromDir.ino}: entry "${fromName}" names missing inode ${src.ino}`);
      const fromBefore = wccOf(fromDir);
      const toBefore = wccOf(toDir);
      const dst = await this.findEntry(tx, toDir.ino, toNb, toBase);
      // POSIX: renaming a name onto itself, or onto another link of the same file, does nothing.
      if (dst.key && dst.ino === src.ino) {
        return {
          fromWcc: { before: fromBefore, after: this.toAttr(fromDir) },
          toWcc: { before: toBefore, after: this.toAttr(toDir) },
        };
      }
      if (srcInode.type === FileType.DIR && !sameDir) {
        // A directory may not move below itself: walk up from the target directory.
        let p = toDir;
        for (let depth = 0; ; depth++) {
          if (p.ino === srcInode.ino) throw fail(FsErrorCode.INVAL, 'rename of a directory into its own subtree');
          if (p.ino === ROOT_INO) break;
          const up = await this.loadInode(tx, p.parent);
          if (!up || depth > 1_000_000) throw new Error(`directory ${p.ino}: broken parent chain`);
          p = up;
        }
      }
      if (dst.key) {
        const victim = await this.loadInode(tx, dst.ino);
        if (!victim) throw new Error(`directory ${toDir.ino}: entry "${toName}" names missing inode ${dst.ino}`);
        if (srcInode.type === FileType.DIR && victim.type !== FileType.DIR) throw fail(FsErrorCode.NOTDIR);
        if (srcInode.type !== FileType.DIR && victim.type === FileType.DIR) throw fail(FsErrorCode.ISDIR);
        if (victim.type === FileType.DIR && !(await this.isEmptyDir(tx, victim.ino))) throw fail(FsErrorCode.NOTEMPTY);
        tx.del(dst.key);
        await this.dropLink(tx, victim, now);
        if (victim.type === FileType.DIR) toDir.nlink--;
      } else {
        this.checkMetaSpace(toDir);
      }
      tx.del(src.key);
      // Re-scan the slot after the deletes so the new entry takes the lowest free index.
      const slot = await this.findEntry(tx, toDir.ino, toNb, toBase);
      this.addEntry(tx, toDir.ino, toNb, slot.freeSlot, srcInode.ino, srcInode.type, toBase);
      if (srcInode.type === FileType.DIR && !sameDir) {
        if (toDir.nlink >= MAX_LINKS) throw fail(FsErrorCode.MLINK);
        fromDir.nlink--;
        toDir.nlink++;
        srcInode.parent = toDir.ino;
      }
      srcInode.ctime = now;
      this.putInode(tx, srcInode);
      fromDir.mtime = now;
      fromDir.ctime = now;
      toDir.mtime = now;
      toDir.ctime = now;
      this.putInode(tx, fromDir);
      if (!sameDir) this.putInode(tx, toDir);
      return {
        fromWcc: { before: fromBefore, after: this.toAttr(fromDir) },
        toWcc: { before: toBefore, after: this.toAttr(toDir) },
      };
    }, true, answer);
  }

  async readdir(dirRef: FileRef, cookie: bigint, withAttrs: boolean, accept: (entry: DirEntry) => boolean): Promise<ReaddirResult> {
    const dir = await this.cachedRef(dirRef);
    const dirAttr = this.visible(dir.attr);
    if (dirAttr.type !== FileType.DIR) throw new FsError(FsErrorCode.NOTDIR, 'not a directory', { after: dirAttr });
    const dirIno = dirAttr.ino;
    const entries: DirEntry[] = [];
    const offer = (e: DirEntry): boolean => {
      if (!accept(e)) return false;
      entries.push(e);
      return true;
    };
    if (cookie < COOKIE_DOT) {
      if (!offer({ cookie: COOKIE_DOT, name: '.', ino: dirIno, attr: withAttrs ? dirAttr : undefined })) return { entries, eof: false, dirAttr };
    }
    if (cookie < COOKIE_DOTDOT) {
      const parentIno = dirIno === ROOT_INO ? dirIno : dir.parent;
      let attr: Attr | undefined;
      if (withAttrs) {
        const p = this.cache.inodes.get(parentIno) ?? (await this.loadCached(parentIno));
        attr = p ? this.visible(p.attr) : undefined;
      }
      if (!offer({ cookie: COOKIE_DOTDOT, name: '..', ino: parentIno, attr })) return { entries, eof: false, dirAttr };
    }
    const next = cookie < FIRST_ENTRY_COOKIE ? FIRST_ENTRY_COOKIE : cookie + 1n;
    if (next > 0xffff_ffff_ffff_ffffn) return { entries, eof: true, dirAttr };
    const listing = this.cache.dirs.get(dirIno) ?? (await this.loadListing(dirIno));
    if (!listing.big) {
      // Warm path: the whole directory is in memory; resume by binary search on the cookie.
      const { cookies, names, inos } = listing;
      let lo = 0;
      let hi = cookies.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cookies[mid]! < next) lo = mid + 1;
        else hi = mid;
      }
      if (!withAttrs) {
        for (let i = lo; i < cookies.length; i++) {
          if (!offer({ cookie: cookies[i]!, name: names[i]!, ino: inos[i]!, attr: undefined })) return { entries, eof: false, dirAttr };
        }
        return { entries, eof: true, dirAttr };
      }
      const done = await this.offerWithAttrs(cookies, names, inos, lo, cookies.length, offer);
      return { entries, eof: done, dirAttr };
    }
    const [, end] = idRange(KeyPrefix.DIRENT, dirIno);
    if (!withAttrs) {
      // Names only: each entry is offered as the scan visits it, so the listing stops exactly
      // where the caller's budget does and nothing past it is decoded.
      let stopped = false;
      await this.volume.scan(direntKey(dirIno, next), end, (k, v) => {
        const d = decodeDirent(v);
        if (offer({ cookie: direntCookie(k), name: d.name.toString('utf8'), ino: d.ino, attr: undefined })) return true;
        stopped = true;
        return false;
      });
      return { entries, eof: !stopped, dirAttr };
    }
    let from = next;
    for (;;) {
      const cookies: bigint[] = [];
      const names: string[] = [];
      const inos: bigint[] = [];
      await this.volume.scan(direntKey(dirIno, from), end, (k, v) => {
        const d = decodeDirent(v);
        cookies.push(direntCookie(k));
        names.push(d.name.toString('utf8'));
        inos.push(d.ino);
        return cookies.length < READDIR_BATCH;
      });
      if (!(await this.offerWithAttrs(cookies, names, inos, 0, cookies.length, offer))) return { entries, eof: false, dirAttr };
      if (cookies.length < READDIR_BATCH) return { entries, eof: true, dirAttr };
      from = cookies[cookies.length - 1]! + 1n;
    }
  }

  /**
   * Offers entries [from, to) with their attributes until `offer` refuses one (false) or they
   * run out (true). Inodes missing from the read cache are loaded a small group at a time just
   * ahead of the offers, so a reply that fills up mid-way pays for at most a group of inodes it
   * will not carry (READDIRPLUS stops at dircount, ~100 entries); warm entries cost no await.
   */
  private async offerWithAttrs(
    cookies: bigint[],
    names: string[],
    inos: bigint[],
    from: number,
    to: number,
    offer: (e: DirEntry) => boolean,
  ): Promise<boolean> {
    const group: Array<CachedInode | undefined> = new Array<CachedInode | undefined>(READDIR_ATTR_GROUP);
    for (let i = from; i < to; i += READDIR_ATTR_GROUP) {
      const n = Math.min(READDIR_ATTR_GROUP, to - i);
      let loads: Array<Promise<void>> | undefined;
      for (let j = 0; j < n; j++) {
        const ino = inos[i + j]!;
        const c = this.cache.inodes.get(ino);
        group[j] = c;
        if (c === undefined) {
          loads ??= [];
          loads.push(
            this.loadCached(ino).then((l) => {
              group[j] = l;
            }),
          );
        }
      }
      if (loads !== undefined) await Promise.all(loads);
      for (let j = 0; j < n; j++) {
        const c = group[j];
        if (!offer({ cookie: cookies[i + j]!, name: names[i + j]!, ino: inos[i + j]!, attr: c === undefined ? undefined : this.visible(c.attr) })) return false;
      }
    }
    return true;
  }

  /** Reads a directory's whole listing into the read cache (or notes that it is too big). */
  private async loadListing(dir: bigint): Promise<DirListing> {
    const t = this.cache.dirs.begin(dir);
    const max = this.cache.maxListing;
    const l: DirListing = { big: false, cookies: [], names: [], inos: [] };
    let big = false;
    let done = false;
    try {
      const [from, to] = idRange(KeyPrefix.DIRENT, dir);
      await this.volume.scan(from, to, (k, v) => {
        if (l.cookies.length >= max) {
          big = true;
          return false;
        }
        const d = decodeDirent(v);
        l.cookies.push(direntCookie(k));
        l.names.push(d.name.toString('utf8'));
        l.inos.push(d.ino);
        return true;
      });
      done = true;
    } finally {
      this.cache.dirs.end(dir, t, !done ? undefined : big ? BIG_DIR : l);
    }
    return big ? BIG_DIR : l;
  }

  async statfs(): Promise<FsStat> {
    this.assertOpen();
    const s = this.volume.stats();
    const bb = BigInt(s.blockBytes);
    const availBlocks = Math.max(0, s.freeBlocks - this.reserveBlocks - this.bufferedBlocks);
    // Inodes have no fixed table: one more file costs roughly one small metadata record, so the
    // free count is an estimate from free space (a 4 KiB page holds about 16 inode records).
    const freeFiles = BigInt(availBlocks) * 16n;
    return {
      totalBytes: BigInt(s.maxBlocks) * bb,
      freeBytes: BigInt(Math.max(0, s.freeBlocks - this.bufferedBlocks)) * bb,
      availBytes: BigInt(availBlocks) * bb,
      totalFiles: this.superRec.inodeCount + freeFiles,
      freeFiles,
      availFiles: freeFiles,
    };
  }

  // ---------------------------------------------------------------- data

  private fileState(r: InodeRecord): FileState {
    return this.fileStateOf(r.ino, r.generation);
  }

  private fileStateOf(ino: bigint, generation: number): FileState {
    let st = this.files.get(inoKey(ino));
    if (!st || st.generation !== generation) {
      if (st) {
        st.dropped = true;
        this.discard(st);
      }
      st = new FileState(ino, generation);
      this.files.set(inoKey(ino), st);
    }
    return st;
  }

  /** Takes a file's lock exclusively; its release marks a data change for concurrent readers. */
  private async lockFile(st: FileState): Promise<() => void> {
    const release = await st.lock.write();
    return () => {
      this.dataEpoch++;
      st.version++;
      release();
    };
  }

  private releaseFile(st: FileState, release: () => void): void {
    release();
    this.forgetIfIdle(st);
  }

  /** Drops a file's state once nothing is buffered, pending, locked or flushing. */
  private forgetIfIdle(st: FileState): void {
    if (st.dirty.blockCount === 0 && !st.pending && !st.prefetch && !st.lock.isBusy && !st.flushLock.isLocked && this.files.get(inoKey(st.ino)) === st) this.files.delete(inoKey(st.ino));
  }

  private discard(st: FileState): void {
    this.pendingFiles.delete(st);
    this.dropPrefetch(st);
    this.bufferedBlocks -= st.dirty.clear();
    this.wakeBudget();
  }

  private wakeBudget(): void {
    const w = this.budgetWaiters;
    this.budgetWaiters = [];
    for (const f of w) f();
  }

  private regularAttr(a: Attr): void {
    if (a.type === FileType.DIR) throw new FsError(FsErrorCode.ISDIR, 'is a directory', { after: a });
    if (a.type !== FileType.REG) throw new FsError(FsErrorCode.INVAL, 'not a regular file', { after: a });
  }

  private regular(r: InodeRecord): void {
    if (r.type === FileType.DIR) throw new FsError(FsErrorCode.ISDIR, 'is a directory', { after: this.toAttr(r) });
    if (r.type !== FileType.REG) throw new FsError(FsErrorCode.INVAL, 'not a regular file', { after: this.toAttr(r) });
  }

  /**
   * Extents of `ino` overlapping file blocks [from, to), ascending. `after`: the caller knows no
   * extent starting before it reaches `from` (so the look-back window starts there). Rows that
   * end before `from` are skipped on their key and count, without decoding their checksums.
   */
  private async extentsIn(src: Staging, ino: bigint, from: number, to: number, after = 0): Promise<ExtentRecord[]> {
    const rows = await src.scan(extentKey(ino, Math.max(0, after, from - (MAX_EXTENT_BLOCKS - 1))), extentKey(ino, to));
    const out: ExtentRecord[] = [];
    for (const [k, v] of rows) {
      const fileBlock = extentKeyFileBlock(k);
      if (fileBlock + extentBlockCount(v) > from) out.push(decodeExtent(fileBlock, v));
    }
    return out;
  }

  /**
   * Points file blocks at new volume blocks: old extents overlapping each new one are cut, their
   * overlapped blocks freed. Returns the number of blocks freed.
   *
   * Once a new extent [s, e) is in place no extent covers both block e-1 and block e (one that
   * did was cut at e), so no extent starting before e reaches past it: the next new extent, if
   * it starts at or after e, looks back for overlapping extents no further than e. A flush of
   * scattered blocks (ascending) so scans the gaps between them instead of a full window each.
   */
  private async replaceExtents(tx: Staging, ino: bigint, news: ExtentRecord[]): Promise<number> {
    let freed = 0;
    let prevEnd = 0;
    for (const ne of news) {
      const nEnd = ne.fileBlock + ne.count;
      const after = ne.fileBlock >= prevEnd ? prevEnd : 0;
      for (const o of await this.extentsIn(tx, ino, ne.fileBlock, nEnd, after)) {
        const oEnd = o.fileBlock + o.count;
        tx.del(extentKey(ino, o.fileBlock));
        if (o.fileBlock < ne.fileBlock) {
          const n = ne.fileBlock - o.fileBlock;
          tx.put(extentKey(ino, o.fileBlock), encodeExtent({ fileBlock: o.fileBlock, volBlock: o.volBlock, count: n, crcs: o.crcs.subarray(0, n) }));
        }
        if (oEnd > nEnd) {
          const skip = nEnd - o.fileBlock;
          tx.put(extentKey(ino, nEnd), encodeExtent({ fileBlock: nEnd, volBlock: o.volBlock + skip, count: oEnd - nEnd, crcs: o.crcs.subarray(skip) }));
        }
        const s = Math.max(o.fileBlock, ne.fileBlock);
        const e = Math.min(oEnd, nEnd);
        tx.free({ block: o.volBlock + (s - o.fileBlock), count: e - s });
        freed += e - s;
      }
      tx.put(extentKey(ino, ne.fileBlock), encodeExtent(ne));
      prevEnd = nEnd;
    }
    return freed;
  }

  /** Drops every extent block at or after `keepBlocks`; returns the number freed. */
  private async truncateExtents(tx: Staging, ino: bigint, keepBlocks: number): Promise<number> {
    const [, end] = idRange(KeyPrefix.EXTENT, ino);
    const rows = await tx.scan(extentKey(ino, Math.max(0, keepBlocks - (MAX_EXTENT_BLOCKS - 1))), end);
    let freed = 0;
    for (const [k, v] of rows) {
      const o = decodeExtent(extentKeyFileBlock(k), v);
      const oEnd = o.fileBlock + o.count;
      if (oEnd <= keepBlocks) continue;
      tx.del(k);
      if (o.fileBlock < keepBlocks) {
        const n = keepBlocks - o.fileBlock;
        tx.put(k, encodeExtent({ fileBlock: o.fileBlock, volBlock: o.volBlock, count: n, crcs: o.crcs.subarray(0, n) }));
      }
      const s = Math.max(o.fileBlock, keepBlocks);
      tx.free({ block: o.volBlock + (s - o.fileBlock), count: oEnd - s });
      freed += oEnd - s;
    }
    return freed;
  }

  /** Reserves data blocks, keeping the metadata reserve; a full volume is NOSPC. */
  private async allocData(n: number, hint?: number): Promise<Extent[]> {
    await this.ensureFree(n);
    try {
      return await this.volume.allocate(n, hint);
    } catch (e) {
      if (e instanceof VolumeFullError) throw new FsError(FsErrorCode.NOSPC, 'filesystem is full');
      throw e;
    }
  }

  private async ensureFree(n: number): Promise<void> {
    let s = this.volume.stats();
    if (s.freeBlocks - n >= this.reserveBlocks) return;
    // Blocks freed since the last checkpoint become reusable only after one.
    if (s.lastLsn > s.checkpointLsn) {
      await this.volume.checkpoint();
      s = this.volume.stats();
      if (s.freeBlocks - n >= this.reserveBlocks) return;
    }
    throw new FsError(FsErrorCode.NOSPC, 'filesystem is full');
  }

  /**
   * File blocks [first, first+count) as the client would read them: buffered images first,
   * then extents (checksums verified), zeros for holes. Caller holds the file lock (shared is
   * enough). Only holes are zero-filled: everything else is overwritten anyway. Extents are
   * scanned straight from the volume (no staging), their checksums read in place from the
   * record, and extents that follow each other on the volume too are read with one pread.
   */
  private async readBlocksOf(st: FileState, ino: bigint, first: number, count: number): Promise<Buffer> {
    const out = this.readBuffers.take(count * BLOCK_BYTES);
    const end = first + count;
    const exts: Array<{ fileBlock: number; volBlock: number; count: number; raw: Buffer }> = [];
    await this.volume.scan(extentKey(ino, Math.max(0, first - (MAX_EXTENT_BLOCKS - 1))), extentKey(ino, end), (k, v) => {
      const fileBlock = extentKeyFileBlock(k);
      const volBlock = extentVolBlock(v);
      const n = extentBlockCount(v);
      if (fileBlock + n > first) exts.push({ fileBlock, volBlock, count: n, raw: v });
      return true;
    });
    let filled = first;
    const reads: Array<Promise<void>> = [];
    for (let i = 0; i < exts.length; ) {
      const e = exts[i]!;
      const s = Math.max(first, e.fileBlock);
      let t = Math.min(end, e.fileBlock + e.count);
      // Later extents adjacent in the file and on the volume join this device read.
      let j = i + 1;
      while (j < exts.length) {
        const f = exts[j]!;
        if (t >= end || f.fileBlock !== t || f.volBlock !== e.volBlock + (t - e.fileBlock)) break;
        t = Math.min(end, f.fileBlock + f.count);
        j++;
      }
      if (s > filled) out.fill(0, (filled - first) * BLOCK_BYTES, (s - first) * BLOCK_BYTES);
      filled = t;
      const dst = out.subarray((s - first) * BLOCK_BYTES, (t - first) * BLOCK_BYTES);
      const group = exts.slice(i, j);
      // Separate runs are independent: their reads go to the device together.
      const at = e.volBlock + (s - e.fileBlock);
      const read = this.volume.readBlocksWithCrcs ? this.volume.readBlocksWithCrcs(at, dst) : this.volume.readBlocks(at, dst).then(() => undefined);
      reads.push(read.then((crcs) => this.verifyBlocks(ino, group, s, dst, crcs)));
      i = j;
    }
    if (filled < end) out.fill(0, (filled - first) * BLOCK_BYTES);
    if (reads.length === 1) await reads[0];
    else if (reads.length > 1) await Promise.all(reads);
    st.dirty.overlay(first, end, out);
    return out;
  }

  /** Checks blocks from file block `s` on, just read into `dst`, against the crc32c their
   * extents (`group`, consecutive, covering them) record. `crcs`: the blocks' checksums if the
   * read computed them (in the IO thread), else they are computed here. */
  private verifyBlocks(ino: bigint, group: Array<{ fileBlock: number; volBlock: number; count: number; raw: Buffer }>, s: number, dst: Buffer, crcs?: Uint32Array): void {
    const n = dst.length / BLOCK_BYTES;
    let gi = 0;
    for (let i = 0; i < n; i++) {
      const b = s + i;
      while (b >= group[gi]!.fileBlock + group[gi]!.count) gi++;
      const e = group[gi]!;
      const crc = crcs ? crcs[i]! : crc32c(dst.subarray(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES));
      if (crc !== extentCrc(e.raw, b - e.fileBlock)) {
        const volBlock = e.volBlock + (b - e.fileBlock);
        this.log.error({ ino: ino.toString(), fileBlock: b, volBlock }, 'data block checksum mismatch');
        throw new FsError(FsErrorCode.IO, `checksum mismatch in ino ${ino} block ${b}`);
      }
    }
  }

  async read(file: FileRef, offset: bigint, count: number): Promise<ReadResult> {
    const epoch = this.dataEpoch;
    let a = this.visible((await this.cachedRef(file)).attr);
    this.regularAttr(a);
    if (offset < 0n) throw new FsError(FsErrorCode.INVAL, 'negative offset', { after: a });
    const st = this.fileStateOf(a.ino, a.generation);
    // Shared: reads of one file overlap each other; writers, flushes and truncates exclude them.
    const release = await st.lock.read();
    try {
      // Only a writer that released its lock since the lookup can have changed size or data.
      if (this.dataEpoch !== epoch) a = this.visible((await this.cachedRef(file)).attr);
      const size = Number(a.size);
      if (offset >= a.size || count <= 0) return { data: Buffer.alloc(0), eof: offset >= a.size, attr: a };
      const start = Number(offset);
      const end = Math.min(size, start + count);
      const first = Math.floor(start / BLOCK_BYTES);
      const last = Math.floor((end - 1) / BLOCK_BYTES);
      const ahead = this.takePrefetch(st, first, last - first + 1);
      // A read that starts where the previous one ended reads the next chunk of the same size
      // ahead, now, while this one's blocks are still on their way.
      const sequential = this.noteRead(a.ino, start, end);
      if (sequential && end < size) {
        const next = Math.floor(end / BLOCK_BYTES);
        this.startPrefetch(st, a.ino, next, Math.floor((Math.min(size, end + count) - 1) / BLOCK_BYTES) - next + 1);
      }
      // `whole` is the buffer the blocks were read into (the prefetch's may start earlier).
      const got = ahead && (await ahead);
      const whole = got ? got.whole : await this.readBlocksOf(st, a.ino, first, last - first + 1);
      const at = got ? got.at : -first * BLOCK_BYTES;
      const data = whole.subarray(at + start, at + end);
      // Only a buffer the pool may keep gets a `release` (no closure per small random read).
      return { data, eof: end >= size, attr: a, release: whole.length >= this.readBuffers.minBytes ? this.releaser(whole) : undefined };
    } finally {
      this.releaseFile(st, release);
    }
  }

  /** ReadResult.release of a read into `whole`: gives it back once, if it came from the pool. */
  private releaser(whole: Buffer): () => void {
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.readBuffers.give(whole);
    };
  }

  /** Records a READ of [start, end); true when it starts where the file's last one ended, or at
   * 0 (where a reader of the whole file starts, again on every pass). */
  private noteRead(ino: bigint, start: number, end: number): boolean {
    const key = inoKey(ino);
    const last = this.readEnds.get(key);
    if (last !== undefined) this.readEnds.delete(key);
    else if (this.readEnds.size >= READ_ENDS_KEPT) this.readEnds.delete(this.readEnds.keys().next().value!);
    this.readEnds.set(key, end);
    return start === 0 || start === last;
  }

  /**
   * The prefetched blocks [first, first+count) if the file's prefetch holds them and is current
   * (caller holds the shared lock, so it stays current): the prefetch is taken out of the file.
   * A stale prefetch, or one the reader has moved past, is dropped; one still ahead of this read
   * (several reads in flight) stays.
   */
  private takePrefetch(st: FileState, first: number, count: number): Promise<{ whole: Buffer; at: number } | undefined> | undefined {
    const p = st.prefetch;
    if (!p) return undefined;
    if (p.version === st.version && first >= p.first && first + count <= p.first + p.count) {
      this.dropPrefetch(st, 'used');
      // `at`: where the file's byte 0 would be in `whole` (which starts at block p.first).
      return p.blocks.then((b) => (b === undefined ? undefined : { whole: b, at: -p.first * BLOCK_BYTES }));
    }
    if (p.version !== st.version || first + count > p.first) this.dropPrefetch(st);
    return undefined;
  }

  /**
   * Reads blocks [first, first+count) of the file ahead, under a shared lock of its own taken
   * now. Not when the file already has a prefetch, nor when a writer holds or waits for the lock
   * (the write would make it stale). The oldest stream beyond `readaheadStreams` loses its
   * prefetch.
   */
  private startPrefetch(st: FileState, ino: bigint, first: number, count: number): void {
    if (this.readaheadStreams === 0 || st.prefetch || st.dropped || this.closed || count <= 0) return;
    const release = st.lock.tryRead();
    if (!release) return;
    const blocks = this.readBlocksOf(st, ino, first, count).catch(() => undefined);
    const p: Prefetch = { first, count, version: st.version, blocks };
    st.prefetch = p;
    this.prefetching.add(st);
    this.onReadahead?.('started');
    void blocks.then(() => this.releaseFile(st, release));
    if (this.prefetching.size > this.readaheadStreams) this.dropPrefetch(this.prefetching.values().next().value!);
  }

  private dropPrefetch(st: FileState, outcome: 'used' | 'dropped' = 'dropped'): void {
    if (!st.prefetch) return;
    st.prefetch = undefined;
    this.prefetching.delete(st);
    this.onReadahead?.(outcome);
    this.forgetIfIdle(st);
  }

  /** Waits for write-buffer room for `blocks` more blocks (back-pressure), then takes it. */
  private async reserveBudget(blocks: number): Promise<void> {
    while (this.bufferedBlocks > 0 && this.bufferedBlocks + blocks > this.budgetBlocks) {
      this.kickFlush();
      if (this.flushError !== undefined && !this.flushLoop) {
        const e = this.flushError;
        this.flushError = undefined;
        if (e instanceof FsError) throw new FsError(e.code, e.message);
        throw e;
      }
      await new Promise<void>((resolve) => this.budgetWaiters.push(resolve));
    }
    this.bufferedBlocks += blocks;
    if (this.bufferedBlocks > this.budgetBlocks / 2) this.kickFlush();
  }

  /** Background flushing of the largest buffers, started when the budget is half used. */
  private kickFlush(): void {
    if (this.flushLoop || this.closed) return;
    // Nothing buffered yet (the budget is held by writers still merging): their completion
    // wakes the waiters; waking them here would only spin.
    if (!this.largestBuffer()) return;
    this.flushLoop = (async () => {
      // Yield first: a loop with nothing to flush would otherwise finish (and clear
      // `flushLoop`) before the assignment above, leaving it set for good and nothing flushing.
      await null;
      try {
        // Down to a quarter of the budget; and further while writers wait for room, since one
        // write may need more than the three quarters that leaves (a small budget, or an
        // unaligned 1 MiB write): they must never wait on buffers nobody will flush.
        while (this.bufferedBlocks > this.budgetBlocks / 4 || this.budgetWaiters.length > 0) {
          const best = this.largestBuffer();
          if (!best) break;
          // One batch at a time: a COMMIT waiting on this file's flush lock gets its turn.
          if ((await this.flushFile(best, Infinity, 1)) === 0) break;
        }
        this.flushError = undefined;
      } catch (e) {
        this.flushError = e;
        if (!(e instanceof FsError && e.code === FsErrorCode.NOSPC)) this.log.error({ err: e }, 'background flush failed');
      } finally {
        this.flushLoop = undefined;
        this.wakeBudget();
      }
    })();
  }

  private largestBuffer(): FileState | undefined {
    let best: FileState | undefined;
    for (const st of this.files.values()) if (st.dirty.blockCount > 0 && (!best || st.dirty.blockCount > best.dirty.blockCount)) best = st;
    return best;
  }

  async write(file: FileRef, offset: bigint, data: Buffer, stable: StableHow): Promise<WriteResult> {
    const r0 = await this.resolve(file);
    this.regular(r0);
    if (offset < 0n) throw new FsError(FsErrorCode.INVAL, 'negative offset', { before: wccOf(r0), after: this.toAttr(r0) });
    const endBig = offset + BigInt(data.length);
    if (endBig > BigInt(MAX_FILE_BYTES)) throw new FsError(FsErrorCode.FBIG, 'write beyond the maximum file size', { before: wccOf(r0), after: this.toAttr(r0) });
    if (data.length === 0) {
      if (stable !== StableHow.UNSTABLE) await this.commit(file, offset, 0);
      return { count: 0, committed: stable, wcc: { before: wccOf(r0), after: this.toAttr(r0) } };
    }
    const start = Number(offset);
    const end = start + data.length;
    const first = Math.floor(start / BLOCK_BYTES);
    const last = Math.floor((end - 1) / BLOCK_BYTES);
    const span = last - first + 1;
    // Buffered data must find room when flushed: refuse now rather than lose it at COMMIT.
    try {
      await this.ensureFree(this.bufferedBlocks + span);
    } catch (e) {
      if (e instanceof FsError) throw new FsError(e.code, e.message, { before: wccOf(r0), after: this.toAttr(r0) });
      throw e;
    }
    await this.reserveBudget(span);
    let reserved = span;
    const st = this.fileState(r0);
    const release = await this.lockFile(st);
    let wcc: Wcc;
    let seqLimit: number;
    try {
      const r1 = await this.resolve(file);
      // A partly written block that is not buffered yet merges with the block as it is (zeros
      // past EOF and in holes); read those first, then buffer everything without yielding.
      const edges = new Map<number, Buffer>();
      for (const b of first === last ? [first] : [first, last]) {
        const bStart = b * BLOCK_BYTES;
        if ((start > bStart || end < bStart + BLOCK_BYTES) && !st.dirty.covering(b)) {
          edges.set(b, bStart >= r1.size ? Buffer.alloc(BLOCK_BYTES) : await this.readBlocksOf(st, r1.ino, b, 1));
        }
      }
      if (st.dropped) throw new FsError(FsErrorCode.STALE, 'file removed during write');
      reserved -= st.dirty.write(start, data, (b) => edges.get(b)!);
      // No log record per WRITE: size and times stay pending in memory, overlaid on every load,
      // and reach the log with the data (flush, COMMIT) or with any other change of the inode.
      const before = wccOf(r1);
      const now = this.now();
      st.pending = { size: Math.max(r1.size, end), mtime: now, ctime: now };
      st.pendingSeq++;
      this.pendingFiles.add(st);
      r1.size = st.pending.size;
      r1.mtime = now;
      r1.ctime = now;
      wcc = { before, after: this.toAttr(r1) };
      seqLimit = st.dirty.nextSeq;
    } finally {
      this.bufferedBlocks -= reserved;
      if (st.dropped) this.discard(st);
      this.wakeBudget();
      this.releaseFile(st, release);
    }
    if (stable === StableHow.UNSTABLE) return { count: data.length, committed: StableHow.UNSTABLE, wcc };
    // FILE_SYNC and DATA_SYNC: this write's runs (and older ones) go out, then one log sync covers
    // their extents and the inode. (`after` is the attributes the write produced; the space it
    // uses shows once flushed.)
    await this.flushFile(st, seqLimit, Infinity);
    await this.volume.durable(this.lastLsn);
    return { count: data.length, committed: StableHow.FILE_SYNC, wcc };
  }

  /**
   * Flushes a file's runs older than `beforeSeq`, `maxBatches` batches at most, and (when it
   * flushes them all) its pending size and times. Returns the blocks flushed. Copy-on-write: new
   * blocks are written without holding the file lock (reads and writes go on; a writer copies a
   * run being written), then, under the file lock, one transaction names them, points the
   * extents at them with their crc32c and frees the old ones. Does not await durability.
   */
  private async flushFile(st: FileState, beforeSeq: number, maxBatches: number): Promise<number> {
    const releaseFlush = await st.flushLock.lock();
    try {
      let flushed = 0;
      for (let batch = 0; batch < maxBatches && !st.dropped; ) {
        const runs = st.dirty.select(FLUSH_BATCH_BLOCKS, beforeSeq);
        if (runs.length === 0) break;
        const n = await this.flushRuns(st, runs);
        // -1: a truncate ran meanwhile; select again from what it left.
        if (n >= 0) {
          flushed += n;
          batch++;
        }
      }
      if (maxBatches === Infinity && st.pending && !st.dropped) {
        // Size and times whose data went out earlier (or was truncated away).
        await this.mutate(async (tx) => {
          const r = await this.loadInode(tx, st.ino);
          if (r && r.generation === st.generation) this.putInode(tx, r);
        }, false);
      }
      return flushed;
    } finally {
      releaseFlush();
      this.forgetIfIdle(st);
    }
  }

  /** One flush batch (see flushFile). Caller holds the file's flush lock. */
  private async flushRuns(st: FileState, runs: Run[]): Promise<number> {
    const truncSeq = st.truncSeq;
    let blocks = 0;
    for (const r of runs) {
      blocks += r.count;
      st.dirty.flushing.add(r.buf.buffer);
    }
    let exts: Extent[] = [];
    let applied = false;
    try {
      exts = await this.allocData(blocks, st.hint);
      // Pieces: parts of runs that are contiguous on the volume too. Extent records join pieces
      // contiguous in both file and volume, up to MAX_EXTENT_BLOCKS.
      const pieces: Array<{ volBlock: number; buf: Buffer }> = [];
      const news: ExtentRecord[] = [];
      let cur: { fileBlock: number; volBlock: number; count: number; crcs: number[] } | undefined;
      let ei = 0;
      let eoff = 0;
      for (const r of runs) {
        for (let off = 0; off < r.count; ) {
          const e = exts[ei]!;
          const n = Math.min(r.count - off, e.count - eoff);
          const volBlock = e.block + eoff;
          pieces.push({ volBlock, buf: r.buf.subarray(off * BLOCK_BYTES, (off + n) * BLOCK_BYTES) });
          for (let k = 0; k < n; k++) {
            const fb = r.fileBlock + off + k;
            const vb = volBlock + k;
            if (!cur || cur.fileBlock + cur.count !== fb || cur.volBlock + cur.count !== vb || cur.count >= MAX_EXTENT_BLOCKS) {
              if (cur) news.push({ fileBlock: cur.fileBlock, volBlock: cur.volBlock, count: cur.count, crcs: Uint32Array.from(cur.crcs) });
              cur = { fileBlock: fb, volBlock: vb, count: 0, crcs: [] };
            }
            cur.crcs.push(crc32c(r.buf.subarray((off + k) * BLOCK_BYTES, (off + k + 1) * BLOCK_BYTES)));
            cur.count++;
          }
          off += n;
          eoff += n;
          if (eoff === e.count) {
            ei++;
            eoff = 0;
          }
        }
      }
      if (cur) news.push({ fileBlock: cur.fileBlock, volBlock: cur.volBlock, count: cur.count, crcs: Uint32Array.from(cur.crcs) });
      // All settle before any error is acted on: the blocks are unreserved on failure, and a
      // write still in flight then could land on a block someone else was given.
      const outcomes = await Promise.allSettled(this.devicePieces(pieces).map((p) => this.volume.writeBlocks(p.volBlock, p.buf)));
      for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
      const release = await this.lockFile(st);
      try {
        if (st.dropped) return 0;
        if (st.truncSeq !== truncSeq) return -1;
        try {
          await this.mutate(async (tx) => {
            const r = await this.loadInode(tx, st.ino);
            if (!r || r.generation !== st.generation || st.dropped) throw new FileGone();
            const freed = await this.replaceExtents(tx, st.ino, news);
            r.usedBlocks += blocks - freed;
            this.putInode(tx, r);
            tx.allocated.push(...exts);
          }, false);
          applied = true;
        } catch (e) {
          if (e instanceof FileGone) {
            st.dropped = true;
            this.discard(st);
            return 0;
          }
          throw e;
        }
        const lastExt = exts[exts.length - 1]!;
        st.hint = lastExt.block + lastExt.count;
        // A run a writer replaced by a copy meanwhile stays buffered: the copy is newer.
        for (const r of runs) this.bufferedBlocks -= st.dirty.remove(r);
        this.wakeBudget();
        return blocks;
      } finally {
        st.dirty.flushing.clear();
        this.releaseFile(st, release);
      }
    } finally {
      st.dirty.flushing.clear();
      if (!applied && exts.length > 0) this.volume.unreserve(exts);
    }
  }

  /**
   * Device writes for pieces in volume order: large pieces go as they are (no copy); runs of
   * small ones adjacent on the volume (random 4 KiB writes) are joined, since one write of a
   * few MiB costs less than thousands of small ones.
   */
  private devicePieces(pieces: Array<{ volBlock: number; buf: Buffer }>): Array<{ volBlock: number; buf: Buffer }> {
    const SMALL_BYTES = 64 * 1024;
    const out: Array<{ volBlock: number; buf: Buffer }> = [];
    let i = 0;
    while (i < pieces.length) {
      const p = pieces[i]!;
      let j = i + 1;
      if (p.buf.length < SMALL_BYTES) {
        let next = p.volBlock + p.buf.length / BLOCK_BYTES;
        while (j < pieces.length && pieces[j]!.buf.length < SMALL_BYTES && pieces[j]!.volBlock === next) {
          next += pieces[j]!.buf.length / BLOCK_BYTES;
          j++;
        }
      }
      out.push(j - i === 1 ? p : { volBlock: p.volBlock, buf: Buffer.concat(pieces.slice(i, j).map((q) => q.buf)) });
      i = j;
    }
    return out;
  }

  async commit(file: FileRef, _offset: bigint, _count: number): Promise<Wcc> {
    const r0 = await this.resolve(file);
    const before = wccOf(r0);
    const st = this.files.get(inoKey(r0.ino));
    if (r0.type === FileType.REG && st && st.generation === r0.generation) await this.flushFile(st, st.dirty.nextSeq, Infinity);
    // Everything of this file written before the COMMIT is applied now: one sync covers it.
    await this.volume.durable(this.lastLsn);
    return { before, after: this.toAttr(await this.resolve(file)) };
  }

  async flush(): Promise<void> {
    this.assertOpen();
    for (const st of [...this.files.values()]) {
      if (st.dirty.blockCount === 0 && !st.pending) continue;
      await this.flushFile(st, st.dirty.nextSeq, Infinity);
    }
    if (this.flushLoop) await this.flushLoop;
    while (this.stagedReplySeq < this.nextReplySeq || this.replyDels.length > 0) await this.mutate(() => Promise.resolve(undefined), false);
    await this.volume.durable(this.lastLsn);
  }

  /** Flushes and stops serving. The volume stays open: its owner closes it. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    // Reads ahead still in flight end before the volume may close under them.
    const inFlight = [...this.prefetching].map((st) => st.prefetch?.blocks);
    for (const st of [...this.prefetching]) this.dropPrefetch(st);
    await Promise.all(inFlight);
  }

  /** Test and monitoring hook: buffered blocks including in-flight reservations. */
  get bufferedBlockCount(): number {
    return this.bufferedBlocks;
  }
}
