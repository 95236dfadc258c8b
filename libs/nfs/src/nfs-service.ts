/**
 * NfsService: the MOUNT v3 (100005) and NFS v3 (100003) programs over the engine API.
 *
 * Invariants:
 * - Every NFS call re-checks its client against the current export table for the handle's
 *   filesystem (setExports swaps the table; the next call sees it), so narrowing an export
 *   refuses the very next call.
 * - A handle is verified (length, version, MAC) before its fsid or inode is believed; a valid
 *   handle of a filesystem we do not serve or do not export is NFS3ERR_STALE.
 * - Handlers never throw for NFS outcomes: engine FsErrors and our NfsErrors become the
 *   procedure's failure body with whatever wcc/post-op data is known; any other exception is
 *   an internal fault, logged with xid, procedure and handle, and answered NFS3ERR_SERVERFAULT.
 *   Only XdrError (malformed arguments) escapes, so the RPC layer answers GARBAGE_ARGS.
 * - Refusals are logged once per (client, export) per export table, not per call.
 * - Each served filesystem has a write verifier (RFC 1813 §3.3.7 writeverf3) drawn afresh every
 *   time it is added (restart, change of owner, reopen after fsck): WRITE and COMMIT answer with
 *   it, so a client resends UNSTABLE data that an earlier incarnation may have lost.
 * - The reply of a non-idempotent call that succeeded (NFS3_OK) is kept with the filesystem its
 *   first handle names, in the engine transaction that makes the change (the procedure passes
 *   `ctx.keep(...)` to the engine, a `ReplyBuilder`): the change is never durable without its
 *   reply. A reply not built that way (none of the procedures today) is handed to
 *   `FileSystem.recordReply` as it completes. Adding a filesystem restores the records it kept
 *   into that filesystem's own duplicate request cache (one per filesystem, so neither a restore
 *   nor another filesystem's traffic evicts its entries), so a retransmit after a change of owner
 *   gets the original reply. Calls whose first handle names no served filesystem share one more
 *   cache. Failures are not recorded (they changed nothing, so running them again answers the
 *   same), and JUKEBOX answers are not even cached.
 */
import { randomBytes } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';
import { type Attr, type FileRef, type FileSystem, FsError, MAX_REPLY_RECORD_BYTES, type ReplyBuilder, type ReplyRecord, type Wcc } from '@ferry/fs';
import { AuthFlavor, type ClientAddress, type ProcedureHandler, type RpcCall, type RpcProgram } from '@ferry/oncrpc';
import { XdrWriter } from '@ferry/xdr';
import { type DrcKey, type DrcOptions, type DrcRecord, DuplicateRequestCache, type RunHooks } from './drc';
import { decodeDrcKey, encodeDrcKey } from './drc-record';
import { clientAllowed, type ExportConfig, type ExportEntry, ExportTable, squash, type User } from './exports';
import { FileHandleCodec } from './file-handle';
import { EntryPlusCache } from './nfs3/entry-plus';
import { MissBudget } from './mount3/miss-budget';
import { MountList } from './mount3/mount-list';
import {
  MOUNT3_PROCEDURE_NAMES,
  MOUNT_PROGRAM,
  MOUNT_V1,
  MOUNT_V3,
  MountStat3,
  readDirpath,
  writeExports,
  writeMountlist,
  writeMountres3,
} from './mount3/xdr-types';
import type { DecodeLimits, FailInfo, Nfs3Procedure, NfsCallContext, NfsStats } from './nfs3/procedure';
import { type AnyNfs3Procedure, NFS3_PROCEDURE_NAMES, NFS3_PROCEDURES } from './nfs3/procedures';
import { NfsError, postOp, wccData } from './nfs3/result';
import { EMPTY_WCC, NFS_PROGRAM, NFS_V3, NfsStat3, type Wcc_data } from './nfs3/xdr-types';
import { nfsStatFromFsError } from './status';

export interface NfsLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface NfsServiceOptions {
  filesystems: ReadonlyMap<bigint, FileSystem>;
  exports: ExportConfig[];
  handleKey: Buffer; // 32 bytes
  logger: NfsLogger;
  stats?: NfsStats;
  clock?: () => number; // ms
  maxIoBytes?: number; // rtmax/wtmax, default 1 MiB
  /**
   * Bounds of each filesystem's duplicate request cache (default 4096 entries and 4 MiB of
   * replies: what the engine keeps of its reply records by default).
   */
  drcBounds?: { maxEntries?: number; maxBytes?: number };
  /** Randomness for write verifiers (default crypto.randomBytes). */
  random?: (n: number) => Buffer;
  /**
   * A cluster mover: true for a filesystem of the cluster that this mover does not serve right
   * now (moving, or being recovered). Its calls get NFS3ERR_JUKEBOX instead of NFS3ERR_STALE, so
   * the director (or the client) tries again rather than losing the handle.
   */
  servedElsewhere?: (fsid: bigint) => boolean;
  /**
   * Send the reply of a non-idempotent call only once its duplicate-cache record is durable. A
   * cluster mover sets it: a retransmit that reaches the next owner after a crash or a stop then
   * always finds the original reply. A reply kept with its operation is durable with it already;
   * one recorded afterwards (`recordReply`) waits for `FileSystem.repliesDurable`.
   */
  durableReplies?: boolean;
  /** See setExportRefresher. */
  refreshExports?: () => Promise<void>;
  /** How long a MNT of an unknown path waits for refreshExports (default 3000 ms). */
  exportRefreshWaitMs?: number;
}

export const DEFAULT_MAX_IO_BYTES = 1024 * 1024;
const REFUSAL_LOG_KEYS_MAX = 10_000;
/** RFC 5531 appendix A: the flavors MNT offers (AUTH_SYS; AUTH_NONE callers are squashed anyway). */
const MOUNT_AUTH_FLAVORS = [AuthFlavor.AUTH_SYS as number];
const DEFAULT_EXPORT_REFRESH_WAIT_MS = 3000;

class CallContext implements NfsCallContext {
  private attr0: Attr | undefined;
  private attr1: Attr | undefined;
  /** The engine result the last `keep` builder saw, and the result it built and kept. */
  private keptFrom: unknown;
  private kept: unknown;

  constructor(
    readonly fs: FileSystem,
    readonly fsid: bigint,
    readonly file: FileRef,
    readonly file2: FileRef | undefined,
    readonly user: User,
    readonly readOnly: boolean,
    readonly maxIoBytes: number,
    readonly stats: NfsStats | undefined,
    private readonly codec: FileHandleCodec,
    private readonly plusCache: EntryPlusCache,
    readonly writeVerifier: Buffer,
    private readonly keeper: ((res: unknown) => ReplyRecord | undefined) | undefined,
  ) {}

  keep<E>(toRes: (result: E) => unknown): ReplyBuilder<E> | undefined {
    const keeper = this.keeper;
    return (
      keeper &&
      ((e: E) => {
        const res = toRes(e);
        const record = keeper(res);
        this.keptFrom = e;
        this.kept = record === undefined ? undefined : res;
        return record;
      })
    );
  }

  keptRes<E, R>(toRes: (result: E) => R, result: E): R {
    if (this.kept !== undefined && this.keptFrom === result) return this.kept as R;
    return toRes(result);
  }

  /** The result whose encoding the engine kept as this call's reply record, if any. */
  isKept(res: unknown): boolean {
    return this.kept !== undefined && this.kept === res;
  }

  handle(file: FileRef): Buffer {
    return this.codec.encode(this.fsid, file);
  }

  entryPlus(attr: Attr): Buffer {
    return this.plusCache.of(this.fsid, attr);
  }

  async attr(which: 0 | 1 = 0): Promise<Attr> {
    if (which === 0) return (this.attr0 ??= await this.fs.getattr(this.file));
    if (this.file2 === undefined) throw new Error('attr(1) without a second handle');
    return (this.attr1 ??= await this.fs.getattr(this.file2));
  }

  remember(which: 0 | 1, attr: Attr): void {
    if (which === 0) this.attr0 = attr;
    else this.attr1 = attr;
  }

  known(which: 0 | 1): Attr | undefined {
    return which === 0 ? this.attr0 : this.attr1;
  }
}

const NO_INFO: FailInfo = { wcc: EMPTY_WCC, wcc2: EMPTY_WCC, attr: undefined };

/** A write refused by a lost lease (code FENCED), also when the engine wrapped it (as cause). */
function isFenced(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'FENCED') return true;
  }
  return false;
}

/** The nfsstat3 a reply body starts with. */
function replyStatus(reply: Buffer): number {
  return reply.length >= 4 ? reply.readUInt32BE(0) : -1;
}

/** "Not executed, try again": never answered from the cache to a replay of the same call. */
const keepUnlessJukebox = (reply: Buffer): boolean => replyStatus(reply) !== (NfsStat3.NFS3ERR_JUKEBOX as number);

/** A non-idempotent call: where it ran (set by execute once it reached a served filesystem),
 * and the reply body its engine operation kept, if it did. */
interface CallTarget {
  key: DrcKey;
  argsChecksum: number;
  fs: FileSystem | undefined;
  kept: Buffer | undefined;
}

function credentialOf(call: RpcCall): User | undefined {
  if (call.cred.flavor === AuthFlavor.AUTH_SYS) return { uid: call.cred.sys.uid, gid: call.cred.sys.gid, gids: call.cred.sys.gids };
  return undefined;
}

async function tryGetattr(fs: FileSystem, file: FileRef): Promise<Attr | undefined> {
  try {
    return await fs.getattr(file);
  } catch {
    return undefined;
  }
}

export class NfsService {
  private readonly filesystems: Map<bigint, FileSystem>;
  private table: ExportTable;
  private refreshExports: (() => Promise<void>) | undefined;
  private readonly exportRefreshWaitMs: number;
  private readonly missBudget = new MissBudget();
  private readonly codec: FileHandleCodec;
  private readonly plusCache: EntryPlusCache;
  private readonly logger: NfsLogger;
  private readonly stats: NfsStats | undefined;
  private readonly limits: DecodeLimits;
  /** One duplicate request cache per served filesystem, and one for calls naming none. */
  private readonly drcs = new Map<bigint, DuplicateRequestCache>();
  private readonly drcOther: DuplicateRequestCache;
  private readonly drcOptions: DrcOptions;
  readonly mounts = new MountList();
  private readonly refusalsLogged = new Set<string>();
  private readonly programList: RpcProgram[];
  private readonly servedElsewhere: ((fsid: bigint) => boolean) | undefined;
  private readonly durableReplies: boolean;
  private readonly clock: () => number;
  private readonly random: (n: number) => Buffer;
  private readonly verifiers = new Map<bigint, Buffer>();

  constructor(opts: NfsServiceOptions) {
    this.filesystems = new Map();
    this.codec = new FileHandleCodec(opts.handleKey);
    this.plusCache = new EntryPlusCache(this.codec);
    this.logger = opts.logger;
    this.stats = opts.stats;
    const maxIoBytes = opts.maxIoBytes ?? DEFAULT_MAX_IO_BYTES;
    if (!(Number.isSafeInteger(maxIoBytes) && maxIoBytes >= 4096)) throw new Error(`maxIoBytes ${maxIoBytes} must be an integer >= 4096`);
    this.limits = { maxIoBytes };
    this.clock = opts.clock ?? Date.now;
    this.drcOptions = { clock: opts.clock, maxEntries: opts.drcBounds?.maxEntries, maxBytes: opts.drcBounds?.maxBytes };
    this.drcOther = new DuplicateRequestCache(this.drcOptions);
    this.servedElsewhere = opts.servedElsewhere;
    this.durableReplies = opts.durableReplies ?? false;
    this.refreshExports = opts.refreshExports;
    this.exportRefreshWaitMs = opts.exportRefreshWaitMs ?? DEFAULT_EXPORT_REFRESH_WAIT_MS;
    this.random = opts.random ?? randomBytes;
    this.table = this.buildTable(opts.exports);
    this.programList = [this.mountProgram(), this.nfsProgram()];
    for (const fs of opts.filesystems.values()) this.addFileSystem(fs);
  }

  programs(): RpcProgram[] {
    return this.programList;
  }

  /**
   * How a MNT of a path the export table does not hold asks for the table to be loaded again
   * (and applied with setExports) before it answers MNT3ERR_NOENT: `refresh` resolves once a
   * load that started after the call has been applied. An export created a moment ago is then
   * mountable as soon as the request that created it has committed, without waiting for the
   * change notification. The wait is bounded (exportRefreshWaitMs), and so is the number of such
   * loads (MNT_MISS_LOADS_PER_S); a failed or slow load answers from the table as it is.
   */
  setExportRefresher(refresh: (() => Promise<void>) | undefined): void {
    this.refreshExports = refresh;
  }

  /** Applies to the next call. */
  setExports(exports: ExportConfig[]): void {
    this.table = this.buildTable(exports);
    this.refusalsLogged.clear();
  }

  /**
   * Serves a filesystem (again): a new write verifier, and the replies it kept restored into
   * the duplicate request cache before any call can reach it (synchronous).
   */
  addFileSystem(fs: FileSystem): void {
    const verf = this.random(8);
    if (verf.length !== 8) throw new Error('write verifier randomness must give 8 bytes');
    this.verifiers.set(fs.fsid, Buffer.from(verf));
    this.restoreReplies(fs);
    this.filesystems.set(fs.fsid, fs);
  }

  removeFileSystem(fsid: bigint): void {
    this.filesystems.delete(fsid);
    this.verifiers.delete(fsid);
    // Its replies stay with the filesystem; calls still running finish on the cache they hold.
    this.drcs.delete(fsid);
  }

  /**
   * The cache of the filesystem a call's first handle names. The handle is verified here (a forged
   * one must not put entries into a filesystem's cache): its MAC is computed once and the handle
   * remembered, so prepare's decode of the same bytes is a cache hit.
   */
  private drcFor(handle: Buffer | undefined): DuplicateRequestCache {
    if (handle === undefined) return this.drcOther;
    const d = this.codec.decode(handle);
    return (d !== 'bad' && this.drcs.get(d.fsid)) || this.drcOther;
  }

  /** Entries in the duplicate request caches (tools and tests). */
  drcEntries(): number {
    let n = this.drcOther.size;
    for (const c of this.drcs.values()) n += c.size;
    return n;
  }

  /** The write verifier WRITE and COMMIT answer with for a served filesystem (tools and tests). */
  writeVerifier(fsid: bigint): Buffer | undefined {
    const v = this.verifiers.get(fsid);
    return v === undefined ? undefined : Buffer.from(v);
  }

  private restoreReplies(fs: FileSystem): void {
    const records: DrcRecord[] = [];
    let bad = 0;
    for (const r of fs.replyRecords()) {
      const d = decodeDrcKey(r.key, r.reply);
      if (d === undefined) bad++;
      else records.push(d);
    }
    if (bad > 0) this.logger.warn({ fsid: fs.fsid.toString(), bad }, 'reply records that do not decode were ignored');
    // A cache of its own, so neither a restore nor another filesystem's traffic pushes out
    // what a retransmit to this one needs.
    const drc = new DuplicateRequestCache(this.drcOptions);
    drc.restore(records);
    this.drcs.set(fs.fsid, drc);
    if (records.length > 0) this.logger.info({ fsid: fs.fsid.toString(), records: records.length }, 'duplicate request cache restored from the filesystem');
  }

  /** Keeps a successful non-idempotent reply with the filesystem the call changed, after the
   * change (true when it was recorded). */
  private persistReply(fs: FileSystem, r: DrcRecord): boolean {
    if (replyStatus(r.reply) !== (NfsStat3.NFS3_OK as number)) return false;
    const key = encodeDrcKey(r);
    if (key === undefined) return false;
    try {
      fs.recordReply(key, r.reply);
      return true;
    } catch (err) {
      // Only an impossible size gets here: the reply stays in memory, just not across owners.
      this.logger.warn({ err, xid: r.xid, proc: r.proc }, 'reply not kept with its filesystem');
      return false;
    }
  }

  /**
   * The record of a successful result of a non-idempotent call, as its engine operation keeps
   * it (`NfsCallContext.keep`): the reply body as `execute` will encode it. Undefined for a
   * failure or a record that cannot be kept.
   */
  private replyRecordOf<R>(spec: Nfs3Procedure<unknown, R>, target: CallTarget, res: R): ReplyRecord | undefined {
    const w = new XdrWriter(512);
    spec.encodeRes(w, res);
    const body = Buffer.from(w.bytes());
    if (replyStatus(body) !== (NfsStat3.NFS3_OK as number)) return undefined;
    const key = encodeDrcKey({ ...target.key, argsChecksum: target.argsChecksum, reply: body, completedAtMs: this.clock() });
    if (key === undefined || key.length + body.length > MAX_REPLY_RECORD_BYTES) return undefined;
    target.kept = body;
    return { key, reply: body };
  }

  /** The root handle of a served filesystem (what MNT answers), for tools and tests. */
  rootHandle(fsid: bigint): Buffer | undefined {
    const fs = this.filesystems.get(fsid);
    // A copy: minted handles are shared, and a tool may scribble on what it is given.
    return fs === undefined ? undefined : Buffer.from(this.codec.encode(fsid, fs.root));
  }

  private buildTable(exports: ExportConfig[]): ExportTable {
    const t = new ExportTable(exports);
    for (const problem of t.problems) this.logger.warn({ problem }, 'export configuration problem');
    return t;
  }

  private logRefusal(client: ClientAddress, e: ExportEntry, why: string): void {
    const k = `${client.address}|${e.path}`;
    if (this.refusalsLogged.has(k)) return;
    if (this.refusalsLogged.size >= REFUSAL_LOG_KEYS_MAX) this.refusalsLogged.clear();
    this.refusalsLogged.add(k);
    this.logger.warn({ client: client.address, port: client.port, export: e.path, why }, 'client refused by export rules');
  }

  /** The export a client may use this filesystem through, or the status refusing it. */
  private exportFor(fsid: bigint, client: ClientAddress): ExportEntry | NfsStat3 {
    const entries = this.table.forFsid(fsid);
    if (entries === undefined || entries.length === 0) return NfsStat3.NFS3ERR_STALE;
    for (const e of entries) if (clientAllowed(e, client.address, client.port)) return e;
    const first = entries[0] as ExportEntry;
    this.logRefusal(client, first, first.matcher.matches(client.address) ? 'insecure port' : 'address not allowed');
    return NfsStat3.NFS3ERR_ACCES;
  }

  // ---- MOUNT v3 (RFC 1813 appendix I) -----------------------------------------------------

  private mountProgram(): RpcProgram {
    const procedures: ProcedureHandler[] = [];
    procedures[0] = (call) => call.args.expectEnd();
    procedures[1] = (call, reply) => this.mnt(call, reply);
    procedures[2] = (call, reply) => {
      call.args.expectEnd();
      writeMountlist(reply, this.mounts.list());
    };
    procedures[3] = (call) => {
      const path = readDirpath(call.args);
      call.args.expectEnd();
      const e = this.table.byExportPath(path);
      this.mounts.remove(call.client.address, e?.path ?? path);
    };
    procedures[4] = (call) => {
      call.args.expectEnd();
      this.mounts.removeAll(call.client.address);
    };
    procedures[5] = (call, reply) => {
      call.args.expectEnd();
      writeExports(
        reply,
        this.table.entries.map((e) => ({ ex_dir: e.path, ex_groups: [...e.config.clients] })),
      );
    };
    // MOUNT v1 (RFC 1094 appendix A) for tools like showmount, which ask v1 for EXPORT and DUMP:
    // those bodies are the same as v3's. Its MNT returns a fixed 32-byte handle, which cannot
    // hold ours, so v1 MNT answers EACCES (fhstatus 13) and clients mount with v3.
    const v1: ProcedureHandler[] = [...procedures];
    v1[1] = (call, reply) => {
      readDirpath(call.args);
      call.args.expectEnd();
      reply.uint(MountStat3.MNT3ERR_ACCES);
    };
    return {
      prog: MOUNT_PROGRAM,
      name: 'mount',
      versions: [
        { vers: MOUNT_V3, procedures },
        { vers: MOUNT_V1, procedures: v1 },
      ],
      procedureNames: MOUNT3_PROCEDURE_NAMES,
    };
  }

  private mnt(call: RpcCall, reply: XdrWriter): void | Promise<void> {
    const path = readDirpath(call.args);
    call.args.expectEnd();
    const refresh = this.refreshExports;
    if (refresh === undefined || this.table.byExportPath(path) !== undefined || !this.mayReloadForMiss()) return this.mntPath(path, call, reply);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((r) => (timer = setTimeout(r, this.exportRefreshWaitMs)));
    return Promise.race([refresh().catch((err: unknown) => this.logger.warn({ err: String(err) }, 'could not reload the export table for a MNT')), waited]).then(() => {
      clearTimeout(timer);
      this.mntPath(path, call, reply);
    });
  }

  private mayReloadForMiss(): boolean {
    const taken = this.missBudget.take(performance.now());
    if (taken === 'first-over') this.logger.warn({ perSecond: this.missBudget.perSecond }, 'many MNTs of unknown export paths: answering the rest of this second from the export table as it is');
    return taken === 'ok';
  }

  private mntPath(path: string, call: RpcCall, reply: XdrWriter): void {
    const e = this.table.byExportPath(path);
    if (e === undefined) {
      writeMountres3(reply, { fhs_status: MountStat3.MNT3ERR_NOENT });
      return;
    }
    if (!clientAllowed(e, call.client.address, call.client.port)) {
      this.logRefusal(call.client, e, e.matcher.matches(call.client.address) ? 'insecure port' : 'address not allowed');
      writeMountres3(reply, { fhs_status: MountStat3.MNT3ERR_ACCES });
      return;
    }
    const fs = this.filesystems.get(e.config.fsid);
    if (fs === undefined) {
      this.logger.warn({ export: e.path, fsid: e.config.fsid.toString() }, 'MNT of an export whose filesystem is not served here');
      writeMountres3(reply, { fhs_status: MountStat3.MNT3ERR_NOENT });
      return;
    }
    this.mounts.add(call.client.address, e.path);
    this.logger.info({ client: call.client.address, export: e.path }, 'mount');
    writeMountres3(reply, {
      fhs_status: MountStat3.MNT3_OK,
      mountinfo: { fhandle: this.codec.encode(fs.fsid, fs.root), auth_flavors: MOUNT_AUTH_FLAVORS },
    });
  }

  // ---- NFS v3 (RFC 1813 §3) ----------------------------------------------------------------

  private nfsProgram(): RpcProgram {
    const procedures: ProcedureHandler[] = [(call) => call.args.expectEnd()];
    for (let i = 1; i < NFS3_PROCEDURES.length; i++) {
      const spec = NFS3_PROCEDURES[i];
      if (spec !== undefined) procedures[i] = this.nfsHandler(spec);
    }
    return { prog: NFS_PROGRAM, name: 'nfs', versions: [{ vers: NFS_V3, procedures }], procedureNames: NFS3_PROCEDURE_NAMES };
  }

  private nfsHandler(spec: AnyNfs3Procedure): ProcedureHandler {
    // Not async itself: an idempotent call's promise is execute()'s own, one hop fewer per call.
    return (call, reply) => {
      const argsStart = call.args.offset;
      const args: unknown = spec.decodeArgs(call.args, this.limits);
      call.args.expectEnd();
      if (!spec.nonIdempotent) return this.execute(spec, call, args, reply);
      const argsChecksum = crc32c(call.args.buf.subarray(argsStart, call.args.end));
      const key = { client: call.client.address, xid: call.xid, prog: call.prog, vers: call.vers, proc: call.proc };
      const target: CallTarget = { key, argsChecksum, fs: undefined, kept: undefined };
      let recorded = false;
      const hooks: RunHooks = {
        keep: keepUnlessJukebox,
        persist: (r) => {
          // Kept with the operation when the engine built exactly what is being sent.
          if (target.fs === undefined || (target.kept !== undefined && target.kept.equals(r.reply))) return;
          // A procedure whose reply is not what it handed the engine: the record sent now
          // supersedes the kept one (a restore keeps the newer of two with one key).
          if (target.kept !== undefined) this.logger.warn({ xid: r.xid, proc: r.proc }, 'reply differs from the one kept with its operation');
          recorded = this.persistReply(target.fs, r);
        },
      };
      const drc = this.drcFor(spec.handles(args)[0]);
      const ran = drc.run(key, argsChecksum, reply, () => this.execute(spec, call, args, reply, target), hooks);
      if (!this.durableReplies) return ran.then(() => undefined);
      // The operation itself is durable already; if its record cannot be (the lease ran out
      // meanwhile), the reply still goes: only a later retransmit would miss it.
      return ran.then(() => (recorded && target.fs !== undefined ? target.fs.repliesDurable().catch(() => undefined) : undefined));
    };
  }

  /** Runs a call and writes its result (success or failure body) into `reply`. */
  private async execute<A, R>(spec: Nfs3Procedure<A, R>, call: RpcCall, args: A, reply: XdrWriter, target?: CallTarget): Promise<void> {
    const ctx = this.prepare(spec, call, args, target);
    if (typeof ctx === 'number') {
      spec.encodeRes(reply, spec.fail(ctx, NO_INFO));
      return;
    }
    if (target !== undefined) target.fs = ctx.fs;
    let res: R;
    try {
      if (spec.modifying && ctx.readOnly) throw new NfsError(NfsStat3.NFS3ERR_ROFS);
      res = await spec.run(ctx, args);
    } catch (err) {
      res = await this.failure(spec, call, args, ctx, err);
    }
    // The reply the engine kept with the operation is this result's encoding: send those bytes.
    if (target?.kept !== undefined && ctx.isKept(res)) reply.fixedOpaque(target.kept);
    else spec.encodeRes(reply, res);
  }

  /**
   * Everything a call needs before the engine, done synchronously: verified handles, the
   * filesystem, the export this client may use and the squashed credentials; or the status
   * refusing the call.
   */
  private prepare<A, R>(spec: Nfs3Procedure<A, R>, call: RpcCall, args: A, target?: CallTarget): CallContext | NfsStat3 {
    const fhs = spec.handles(args);
    let fsid = 0n;
    let file: FileRef | undefined;
    let file2: FileRef | undefined;
    for (let i = 0; i < fhs.length; i++) {
      const d = this.codec.decode(fhs[i] as Buffer);
      if (d === 'bad') return NfsStat3.NFS3ERR_BADHANDLE;
      if (i === 0) {
        fsid = d.fsid;
        file = d.file;
      } else if (d.fsid !== fsid) {
        return NfsStat3.NFS3ERR_XDEV;
      } else file2 = d.file;
    }
    if (file === undefined) throw new Error(`${spec.name} names no handle`);
    const fs = this.filesystems.get(fsid);
    if (fs === undefined) return this.servedElsewhere?.(fsid) ? NfsStat3.NFS3ERR_JUKEBOX : NfsStat3.NFS3ERR_STALE;
    const exp = this.exportFor(fsid, call.client);
    if (typeof exp === 'number') return exp;
    const readOnly = exp.config.access === 'ro';
    const user = squash(exp.config, credentialOf(call));
    const verf = this.verifiers.get(fsid) as Buffer; // set with the filesystem
    const keeper = target && ((res: unknown) => this.replyRecordOf(spec as Nfs3Procedure<unknown, R>, target, res as R));
    return new CallContext(fs, fsid, file, file2, user, readOnly, this.limits.maxIoBytes, this.stats, this.codec, this.plusCache, verf, keeper);
  }

  /** The failure result for what a procedure threw (see the class invariants). */
  private async failure<A, R>(spec: Nfs3Procedure<A, R>, call: RpcCall, args: A, ctx: CallContext, err: unknown): Promise<R> {
    let status: NfsStat3;
    let wcc: Wcc | undefined;
    let wcc2: Wcc | undefined;
    if (err instanceof FsError) {
      status = nfsStatFromFsError(err.code);
      wcc = err.wcc;
      wcc2 = err.wcc2;
    } else if (err instanceof NfsError) {
      status = err.status;
    } else if (isFenced(err)) {
      // The lease of this filesystem ran out under the call (a cluster mover): nothing of it
      // reached the pool; the next owner answers it (no attributes: the engine is going away).
      return spec.fail(NfsStat3.NFS3ERR_JUKEBOX, NO_INFO);
    } else {
      status = NfsStat3.NFS3ERR_SERVERFAULT;
      const handle = (spec.handles(args)[0] as Buffer).toString('hex');
      this.logger.error({ err, xid: call.xid, proc: spec.name, handle }, 'internal fault in NFS procedure');
    }
    return spec.fail(status, await this.failInfo(ctx, status, wcc, wcc2));
  }

  /**
   * Failure bodies carry what is known: the engine's wcc when it got that far, else attributes
   * this call already fetched, else a fresh getattr (RFC 1813 asks for post-op attributes on
   * failure too, and clients use them to keep their caches right). A stale object has none.
   */
  private async failInfo(ctx: CallContext, status: NfsStat3, wcc: Wcc | undefined, wcc2: Wcc | undefined): Promise<FailInfo> {
    const stale = status === NfsStat3.NFS3ERR_STALE;
    const attrOf = async (which: 0 | 1): Promise<Attr | undefined> => {
      const ref = which === 0 ? ctx.file : ctx.file2;
      if (ref === undefined) return undefined;
      return ctx.known(which) ?? (stale ? undefined : await tryGetattr(ctx.fs, ref));
    };
    const wccOf = async (w: Wcc | undefined, which: 0 | 1): Promise<Wcc_data> => {
      if (w !== undefined && (w.before !== undefined || w.after !== undefined)) return wccData(w);
      const a = await attrOf(which);
      return { before: undefined, after: postOp(a) };
    };
    const first = await wccOf(wcc, 0);
    return { wcc: first, wcc2: await wccOf(wcc2, 1), attr: first.after ?? postOp(await attrOf(0)) };
  }
}
