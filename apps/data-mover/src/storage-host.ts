/**
 * MoverStorageHost: the StorageHost (libs/control) of the process that holds the pool. It keeps
 * the filesystems this mover serves (space, metadata volume, engine) and adds them to or removes
 * them from the NFS service at run time.
 *
 * Invariants:
 * - Operations on one filesystem (create, open, grow, delete, fsck) run one at a time (a chain
 *   per fsid); a scrub runs beside them but is aborted by delete, and fsck refuses while one runs.
 * - A filesystem is served (in `served` and in the NFS service) only while its engine is open;
 *   it leaves the NFS service before its engine closes, so no call reaches a closed engine
 *   through a new lookup.
 * - Spaces are opened with no pool-side ceiling (SPACE_CEILING_BYTES): the size limit lives in
 *   the metadata volume (its superblock's maxBytes), which can be raised while the filesystem is
 *   served, so growing never needs a remount. FSSTAT and usage report that limit.
 * - create is idempotent: a filesystem whose format was interrupted (its superblocks still
 *   blank, or left by an earlier owner of the slice) is formatted again; one holding a valid
 *   superblock of its own id is opened as it is, never overwritten.
 */
import { ControlError, ControlErrorCode, type ExportRecord, type FsckReport, type FsUsage, type PoolInfo, type Progress, type ScrubReport, type StorageHost } from '@ferry/control';
import {
  type EngineLogger,
  type FileSystem,
  type MetaVolume,
  type ReadaheadOutcome,
  type Timespec,
  CorruptionError,
  checkFileSystem,
  formatFileSystem,
  formatVolume,
  openFileSystem,
  openVolume,
  readSuperblock,
  scrubFileSystem,
  verifyVolume,
} from '@ferry/fs';
import type { NfsService } from '@ferry/nfs';
import type { Logger, MoverConfig, MoverMetrics } from '@ferry/platform';
import { randomBytes } from 'node:crypto';
import { nowTimespec } from './clock';
import type { Pool, Space } from '@ferry/pool';

/** Superblock copies A and B: the space's first two 4 KiB blocks (FORMAT-meta.md). */
const SUPERBLOCK_BYTES = 2 * 4096;

/** Spaces grow until the volume's own limit stops them (see the invariants). */
export const SPACE_CEILING_BYTES = Number.MAX_SAFE_INTEGER;

export interface HostLogger extends EngineLogger {
  info(o: object, msg?: string): void;
}

export interface MoverStorageHostOptions {
  logger: HostLogger;
  clock: () => Timespec;
  random: (n: number) => Buffer;
  writeBufferBytes?: number;
  /** Large read buffers kept for reuse, per filesystem (FERRY_READ_BUFFERS; engine default). */
  readBufferBytes?: number;
  /** Root directory of new filesystems (the embedded default is 0o777, owned by root). */
  rootMode?: number;
  /** Average device read rate of a scrub (FERRY_SCRUB_RATE); 0 or unset = unlimited. */
  scrubBytesPerSecond?: number;
  /** Every chunk an engine reads ahead, and what became of it (metrics). */
  onReadahead?: (outcome: ReadaheadOutcome) => void;
}

export interface OpenOptions {
  /** Overrides the recorded size limit (the embedded default filesystem follows FERRY_FS_SIZE). */
  maxBytes?: number;
  /** A new owner: bump the superblock epoch after recovery (ARCHITECTURE "Ownership"). */
  bumpEpoch?: boolean;
  /** Wraps the filesystem's space (the cluster mover fences writes with its lease). */
  wrapSpace?: (space: Space) => Space;
}

interface Served {
  space: Space;
  volume: MetaVolume;
  fs: FileSystem;
  scrubs: Set<AbortController>;
}

export class MoverStorageHost implements StorageHost {
  private pool?: Pool;
  private nfs?: NfsService;
  private readonly served = new Map<bigint, Served>();
  /** Taken offline by fsck until it is served again. */
  private readonly offline = new Set<bigint>();
  private readonly chains = new Map<bigint, Promise<unknown>>();
  private readonly log: HostLogger;

  constructor(private readonly opts: MoverStorageHostOptions) {
    this.log = opts.logger;
  }

  /** Binds the pool and the NFS service (the mover does it at start, after opening the pool). */
  attach(pool: Pool, nfs?: NfsService): void {
    this.pool = pool;
    this.nfs = nfs;
    if (nfs) for (const s of this.served.values()) nfs.addFileSystem(s.fs);
  }

  get attached(): boolean {
    return this.pool !== undefined;
  }

  /** The engine of a served filesystem (for the mover and tests). */
  fileSystem(fsid: bigint): FileSystem | undefined {
    return this.served.get(fsid)?.fs;
  }

  /** The size limit of a served filesystem in bytes (undefined when not served). */
  sizeLimit(fsid: bigint): number | undefined {
    const s = this.served.get(fsid);
    return s ? s.volume.stats().maxBlocks * s.volume.blockBytes : undefined;
  }

  /** Filesystems the pool holds (served or not). */
  poolFilesystems(): bigint[] {
    return this.requirePool()
      .listFilesystems()
      .map((f) => f.fsId);
  }

  // ---- StorageHost ------------------------------------------------------------------------

  async poolInfo(): Promise<PoolInfo> {
    const s = this.requirePool().stats();
    return {
      poolId: s.poolId,
      sliceBytes: s.sliceBytes,
      totalSlices: s.totalSlices,
      freeSlices: s.freeSlices,
      devices: s.devices.map((d) => ({ index: d.deviceIndex, path: d.path, sizeBytes: d.sizeBytes, slices: d.totalSlices, freeSlices: d.freeSlices })),
    };
  }

  async addDevice(path: string, sizeBytes: number): Promise<void> {
    const pool = this.requirePool();
    await pool.addDevice(path, { createSizeBytes: sizeBytes });
    this.log.info({ path, sizeBytes }, 'pool device added');
  }

  createFilesystem(fsid: bigint, sizeBytes: number, progress?: Progress, signal?: AbortSignal): Promise<void> {
    return this.serial(fsid, async () => {
      if (this.served.has(fsid)) return;
      const pool = this.requirePool();
      const minBytes = pool.sliceDataBytes;
      if (!Number.isSafeInteger(sizeBytes) || sizeBytes < minBytes)
        throw new ControlError(ControlErrorCode.Refused, `a filesystem needs at least ${minBytes} bytes (one pool slice), not ${sizeBytes}`);
      signal?.throwIfAborted();
      progress?.(0, 3, { step: 'space' });
      const known = pool.listFilesystems().some((f) => f.fsId === fsid);
      const space = known ? await pool.openSpace(fsid, { maxBytes: SPACE_CEILING_BYTES }) : await pool.createSpace(fsid, { maxBytes: SPACE_CEILING_BYTES });
      // A space created just now holds whatever its slice held before: always formatted.
      const state = known ? await superblockState(space, fsid) : 'new';
      if (state === 'damaged')
        throw new ControlError(ControlErrorCode.Conflict, `filesystem ${fsid} exists in the pool but its superblocks do not validate: check it (fsck) or delete it`);
      if (state !== 'ours') {
        signal?.throwIfAborted();
        progress?.(1, 3, { step: 'format volume' });
        this.log.info({ fsid: fsid.toString(), sizeBytes, state }, 'formatting filesystem');
        await formatVolume(space, { volumeId: fsid, maxBytes: sizeBytes, random: this.opts.random });
      }
      const volume = await openVolume(space, { random: this.opts.random, logger: this.log });
      try {
        if (!(await isEngineFormatted(volume))) {
          progress?.(2, 3, { step: 'format filesystem' });
          await formatFileSystem(volume, { fsid, clock: this.opts.clock, rootMode: this.opts.rootMode ?? 0o777, rootUid: 0, rootGid: 0 });
        }
        await this.serve(fsid, space, volume);
      } catch (err) {
        await volume.close().catch(() => undefined);
        throw err;
      }
      progress?.(3, 3, { step: 'served' });
    });
  }

  /**
   * Opens an existing filesystem of the pool and serves it. `maxBytes` overrides the recorded
   * size limit (the embedded default filesystem follows FERRY_FS_SIZE at each start).
   */
  openFilesystem(fsid: bigint, opts: OpenOptions = {}): Promise<void> {
    return this.serial(fsid, async () => {
      if (this.served.has(fsid)) return;
      const pool = this.requirePool();
      if (!pool.listFilesystems().some((f) => f.fsId === fsid)) throw new ControlError(ControlErrorCode.NotFound, `filesystem ${fsid} is not in the pool`);
      const opened = await pool.openSpace(fsid, { maxBytes: SPACE_CEILING_BYTES });
      const space = opts.wrapSpace ? opts.wrapSpace(opened) : opened;
      const maxBytes = opts.maxBytes === undefined ? undefined : Math.max(opts.maxBytes, space.sizeBytes);
      const volume = await openVolume(space, { random: this.opts.random, logger: this.log, maxBytes, bumpEpoch: opts.bumpEpoch });
      try {
        await this.serve(fsid, space, volume);
      } catch (err) {
        await volume.close().catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Stops serving `fsid` and closes it, flushing buffered data (a planned move: the caller still
   * holds the lease). Calls for it that are already running finish first.
   */
  releaseFilesystem(fsid: bigint): Promise<void> {
    return this.serial(fsid, async () => {
      const s = this.served.get(fsid);
      if (!s) return;
      for (const ac of s.scrubs) ac.abort(new ControlError(ControlErrorCode.Unavailable, `filesystem ${fsid} is moving to another mover`));
      await this.unserve(fsid, s);
      this.log.info({ fsid: fsid.toString() }, 'filesystem released');
    });
  }

  /**
   * Stops serving `fsid` after its lease was lost: its space refuses writes already (fenced), so
   * closing it writes nothing and buffered, unacknowledged data is dropped (clients resend what
   * they did not see committed: the write verifier of the next owner differs).
   */
  dropFilesystem(fsid: bigint): Promise<void> {
    return this.serial(fsid, async () => {
      const s = this.served.get(fsid);
      if (!s) return;
      for (const ac of s.scrubs) ac.abort(new ControlError(ControlErrorCode.Unavailable, `filesystem ${fsid} lost its lease`));
      await this.unserve(fsid, s).catch((err: unknown) => this.log.info({ fsid: fsid.toString(), err: String(err) }, 'fenced filesystem closed without writing'));
      this.log.info({ fsid: fsid.toString() }, 'filesystem dropped (lease lost)');
    });
  }

  growFilesystem(fsid: bigint, sizeBytes: number): Promise<void> {
    return this.serial(fsid, async () => {
      const s = this.requireServed(fsid);
      const limit = s.volume.stats().maxBlocks * s.volume.blockBytes;
      if (!Number.isSafeInteger(sizeBytes) || sizeBytes < limit)
        throw new ControlError(ControlErrorCode.Refused, `filesystem ${fsid} has a size limit of ${limit} bytes: it grows, never shrinks (asked ${sizeBytes})`);
      await s.volume.raiseMaxBytes(sizeBytes);
      this.log.info({ fsid: fsid.toString(), from: limit, to: sizeBytes }, 'filesystem grown');
    });
  }

  deleteFilesystem(fsid: bigint): Promise<void> {
    return this.serial(fsid, async () => {
      const s = this.served.get(fsid);
      if (s) {
        for (const ac of s.scrubs) ac.abort(new ControlError(ControlErrorCode.Conflict, `filesystem ${fsid} is being deleted`));
        await this.unserve(fsid, s);
      }
      const pool = this.requirePool();
      if (pool.listFilesystems().some((f) => f.fsId === fsid)) {
        // Blank superblocks first: a slice freed with a valid superblock of this fsid on it
        // could otherwise pass for a formatted filesystem if the id were ever created again.
        const space = await pool.openSpace(fsid, { maxBytes: SPACE_CEILING_BYTES });
        await space.writeDurable(Buffer.alloc(SUPERBLOCK_BYTES), 0);
        await pool.destroySpace(fsid);
      }
      this.log.info({ fsid: fsid.toString() }, 'filesystem deleted');
    });
  }

  async usage(fsid: bigint): Promise<FsUsage | undefined> {
    const s = this.served.get(fsid);
    if (!s) return undefined;
    const st = await s.fs.statfs();
    const sizeBytes = Number(st.totalBytes);
    const freeBytes = Number(st.availBytes);
    return {
      sizeBytes,
      usedBytes: Math.max(0, sizeBytes - Number(st.freeBytes)),
      freeBytes,
      files: Number(st.totalFiles - st.freeFiles),
      freeFiles: Number(st.freeFiles),
    };
  }

  async scrub(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<ScrubReport & { pagesChecked: number; damagedCount: number }> {
    const s = this.requireServed(fsid);
    const ac = new AbortController();
    const forward = (): void => ac.abort(signal.reason);
    if (signal.aborted) forward();
    else signal.addEventListener('abort', forward, { once: true });
    s.scrubs.add(ac);
    try {
      const r = await scrubFileSystem(s.volume, s.fs, {
        signal: ac.signal,
        maxBytesPerSecond: this.opts.scrubBytesPerSecond ?? 0,
        onProgress: (done, total, detail) => progress(done, total, { ...detail }),
      });
      if (r.damagedCount > 0) this.log.error({ fsid: fsid.toString(), damaged: r.damagedCount, first: r.damaged.slice(0, 10) }, 'scrub found damage');
      return {
        blocksChecked: r.blocksChecked,
        bytesChecked: r.bytesChecked,
        pagesChecked: r.pagesChecked,
        damagedCount: r.damagedCount,
        damaged: r.damaged.map((d) => ({ ino: d.ino, offset: d.offset })),
      };
    } finally {
      s.scrubs.delete(ac);
      signal.removeEventListener('abort', forward);
    }
  }

  fsck(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<FsckReport> {
    return this.serial(fsid, async () => {
      const s = this.requireServed(fsid);
      if (s.scrubs.size > 0) throw new ControlError(ControlErrorCode.Conflict, `filesystem ${fsid} is being scrubbed`);
      signal.throwIfAborted();
      this.log.info({ fsid: fsid.toString() }, 'fsck: taking the filesystem offline');
      await this.unserve(fsid, s);
      this.offline.add(fsid);
      try {
        const volumeReport = await verifyVolume(s.space);
        const ro = await openVolume(s.space, { readOnly: true, cachePages: 256 });
        try {
          const report = await checkFileSystem(ro, {
            volumeReport,
            onProgress: (done, total) => {
              signal.throwIfAborted();
              progress(done, total);
            },
          });
          return { clean: report.clean, problems: report.problems, counts: { ...report.counts, metadataPages: volumeReport.pages } };
        } finally {
          await ro.close();
        }
      } finally {
        // Served again whatever the outcome: same fsid, same inodes, so client handles stay valid.
        this.offline.delete(fsid);
        const volume = await openVolume(s.space, { random: this.opts.random, logger: this.log });
        await this.serve(fsid, s.space, volume);
        this.log.info({ fsid: fsid.toString() }, 'fsck: filesystem served again');
      }
    });
  }

  setExports(exports: ExportRecord[]): void {
    this.requireNfs().setExports(exports.map((e) => ({ ...e, clients: [...e.clients] })));
  }

  setExportRefresher(refresh: () => Promise<void>): void {
    this.requireNfs().setExportRefresher(refresh);
  }

  servedFilesystems(): bigint[] {
    return [...this.served.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Stops serving and closes every filesystem (flushing buffered data); the pool stays open. */
  async closeAll(): Promise<void> {
    await Promise.all(
      [...this.served.keys()].map((fsid) =>
        this.serial(fsid, async () => {
          const s = this.served.get(fsid);
          if (!s) return;
          for (const ac of s.scrubs) ac.abort(new ControlError(ControlErrorCode.Unavailable, 'the data mover is stopping'));
          await this.unserve(fsid, s);
        }),
      ),
    );
  }

  // ---- internals --------------------------------------------------------------------------

  private async serve(fsid: bigint, space: Space, volume: MetaVolume): Promise<void> {
    const fs = await openFileSystem(volume, {
      fsid,
      clock: this.opts.clock,
      random: this.opts.random,
      logger: this.log,
      writeBufferBytes: this.opts.writeBufferBytes,
      readBufferBytes: this.opts.readBufferBytes,
      onReadahead: this.opts.onReadahead,
    });
    this.served.set(fsid, { space, volume, fs, scrubs: new Set() });
    this.nfs?.addFileSystem(fs);
    this.log.info({ fsid: fsid.toString(), stats: volume.stats() }, 'filesystem served');
  }

  private async unserve(fsid: bigint, s: Served): Promise<void> {
    this.nfs?.removeFileSystem(fsid);
    this.served.delete(fsid);
    try {
      await s.fs.close();
    } finally {
      await s.volume.close();
    }
  }

  /** Runs `fn` after every earlier operation on `fsid` has settled. */
  private serial<T>(fsid: bigint, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(fsid) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.chains.set(fsid, tail);
    void tail.then(() => {
      if (this.chains.get(fsid) === tail) this.chains.delete(fsid);
    });
    return run;
  }

  private requirePool(): Pool {
    if (!this.pool || this.pool.closed) throw new ControlError(ControlErrorCode.Unavailable, 'the data mover has no open pool');
    return this.pool;
  }

  private requireNfs(): NfsService {
    if (!this.nfs) throw new ControlError(ControlErrorCode.Unavailable, 'the data mover serves no NFS');
    return this.nfs;
  }

  private requireServed(fsid: bigint): Served {
    const s = this.served.get(fsid);
    if (s) return s;
    if (this.offline.has(fsid)) throw new ControlError(ControlErrorCode.Conflict, `filesystem ${fsid} is offline for fsck`);
    throw new ControlError(ControlErrorCode.NotFound, `filesystem ${fsid} is not served by this data mover`);
  }
}

/**
 * What the start of a space holds: 'ours' (a valid superblock of this fsid), 'blank' (no valid
 * copy and both copies all zeros: a format that never completed), 'foreign' (a valid superblock
 * of another volume: left in a reused slice before this filesystem's format began), or 'damaged'
 * (anything else: never formatted over).
 */
async function superblockState(space: Space, fsid: bigint): Promise<'ours' | 'blank' | 'foreign' | 'damaged'> {
  try {
    const { sb } = await readSuperblock(space);
    return sb.volumeId === fsid ? 'ours' : 'foreign';
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    const raw = Buffer.alloc(SUPERBLOCK_BYTES);
    await space.read(raw, 0);
    return raw.every((b) => b === 0) ? 'blank' : 'damaged';
  }
}

/** The engine superblock record (key 0x00, FORMAT-engine.md) is written by formatFileSystem in
 * one durable transaction: present means formatted. */
async function isEngineFormatted(volume: MetaVolume): Promise<boolean> {
  return (await volume.get(Buffer.from([0x00]))) !== undefined;
}

/** The storage host of a mover process, with the settings and metrics of its configuration. */
export function moverStorageHost(config: MoverConfig, logger: Logger, metrics: MoverMetrics): MoverStorageHost {
  return new MoverStorageHost({
    logger: logger.child({ component: 'storage' }),
    clock: nowTimespec,
    random: (n) => randomBytes(n),
    writeBufferBytes: config.writeBufferBytes,
    readBufferBytes: config.readBufferBytes,
    scrubBytesPerSecond: config.scrubBytesPerSecond,
    onReadahead: (outcome) => metrics.readahead.inc({ outcome }),
  });
}
