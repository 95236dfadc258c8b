/**
 * The StorageHost of the admin-api in a cluster (docs/cluster.md). The admin-api opens the shared
 * pool too, but never serves a filesystem: it formats new ones (then closes them, so a mover can
 * take them over) and frees deleted ones once no mover holds their lease. Everything that needs
 * the open filesystem happens on its owner:
 *
 * - grow: the row's new size is the request; the owning mover raises its limit when it sees the
 *   change (a `filesystems.changed` event or its periodic reload), and every later owner opens
 *   with it.
 * - usage: measured by the owner, which writes it to PostgreSQL with its lease renewals
 *   (fs_usage, libs/control/src/cluster/usage.ts). Shown only while current: from the mover that
 *   serves the filesystem now, under its lease epoch, and fresh; with when it was measured and its
 *   age. Otherwise blank (moving, no owner, owner silent): a last known figure is never passed off
 *   as the filesystem's usage.
 * - scrub and fsck: asked of the owner over the event bus (MaintenanceClient, libs/control/src/
 *   cluster/maintenance.ts), which runs them on its open filesystem and reports progress and the
 *   outcome; bounded waits for an owner and for its word, so a job never hangs on a dead one.
 *   Without Redis there is no way to ask: 503.
 * - adding a device: refused with 503 (every mover, and the admin-api, would have to reopen the
 *   pool and agree on its new layout under the pool lock; not built yet).
 */
import {
  ControlError,
  ControlErrorCode,
  reportedUsages,
  type ExportRecord,
  type MaintenanceClient,
  type FsckReport,
  type FsUsage,
  type PoolInfo,
  type Progress,
  type Queryable,
  type ScrubReport,
  type StorageHost,
} from '@ferry/control';
import type { Pool } from '@ferry/pool';
import type { MoverStorageHost } from '../../../data-mover/src/storage-host';

export interface ClusterStorageHostOptions {
  host: MoverStorageHost;
  pool: Pool;
  db: Queryable;
  /** How long delete waits for the owner to let the filesystem go (default 60 s). */
  releaseTimeoutMs?: number;
  /** Asks owners for scrub and fsck (needs the Redis event bus; without it both answer 503). */
  maintenance?: MaintenanceClient;
  /**
   * Pool figures (GET /pools, /status) are re-read from the slice headers at most this often
   * (default 2000 ms); calls in between, and calls while a re-read runs, share the last one.
   * A re-read scans every slice header under the pool's cross-process lock, which movers need
   * to grow a filesystem: a dashboard polling the API must not hold it over and over.
   */
  poolRefreshMs?: number;
  /** Milliseconds now (tests). */
  clock?: () => number;
}

export class ClusterStorageHost implements StorageHost {
  /** The last re-read of the pool: when it started and its outcome (a failed one is not kept). */
  private refreshed?: { atMs: number; done: Promise<void> };

  constructor(private readonly opts: ClusterStorageHostOptions) {}

  async poolInfo(): Promise<PoolInfo> {
    const now = (this.opts.clock ?? Date.now)();
    const last = this.refreshed;
    if (last === undefined || now - last.atMs >= (this.opts.poolRefreshMs ?? 2000)) {
      const done = this.opts.pool.refresh();
      const mine = { atMs: now, done };
      this.refreshed = mine;
      done.catch(() => {
        if (this.refreshed === mine) this.refreshed = undefined;
      });
    }
    await this.refreshed!.done;
    return this.opts.host.poolInfo();
  }

  addDevice(): Promise<void> {
    return Promise.reject(new ControlError(ControlErrorCode.Unavailable, 'adding a device to the shared pool of a cluster is not supported yet (every mover would have to reopen the pool)'));
  }

  async createFilesystem(fsid: bigint, sizeBytes: number, progress?: Progress, signal?: AbortSignal): Promise<void> {
    await this.opts.host.createFilesystem(fsid, sizeBytes, progress, signal);
    await this.opts.host.releaseFilesystem(fsid);
  }

  async growFilesystem(fsid: bigint, sizeBytes: number): Promise<void> {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new ControlError(ControlErrorCode.Refused, `size ${sizeBytes} is not a positive integer`);
    // The owner applies it (see above); nothing to do on the pool here.
    void fsid;
  }

  async deleteFilesystem(fsid: bigint): Promise<void> {
    const deadline = Date.now() + (this.opts.releaseTimeoutMs ?? 60_000);
    // The row is `deleting`: no mover is assigned it any more, its owner flushes and releases.
    for (;;) {
      const rows = await this.opts.db.query(
        `SELECT (owner_mover_id IS NULL OR expires_at IS NULL OR expires_at < now() - interval '250 milliseconds') AS free FROM fs_leases WHERE fsid = $1`,
        [fsid.toString()],
      );
      if (rows.length === 0 || rows[0].free === true) break;
      if (Date.now() > deadline) throw new ControlError(ControlErrorCode.Unavailable, `filesystem ${fsid} is still held by a mover: try the delete again`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await this.opts.pool.refresh();
    await this.opts.host.deleteFilesystem(fsid);
  }

  /** The owner's current figures, with `measuredAt` and `ageMs`; undefined when none is current. */
  async usage(fsid: bigint): Promise<(FsUsage & { measuredAt: string; ageMs: number }) | undefined> {
    return (await this.usageOf([fsid])).get(fsid);
  }

  /** usage() of a page of filesystems in one query. */
  async usageOf(fsids: readonly bigint[]): Promise<Map<bigint, FsUsage & { measuredAt: string; ageMs: number }>> {
    const out = new Map<bigint, FsUsage & { measuredAt: string; ageMs: number }>();
    for (const [fsid, u] of await reportedUsages(this.opts.db, fsids)) {
      if (u.current) out.set(fsid, { sizeBytes: u.sizeBytes, usedBytes: u.usedBytes, freeBytes: u.freeBytes, files: u.files, freeFiles: u.freeFiles, measuredAt: u.measuredAt, ageMs: u.ageMs });
    }
    return out;
  }

  async scrub(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<ScrubReport> {
    const report = (await this.requireMaintenance('scrub').run('scrub', fsid, progress, signal)) as ScrubReport | null;
    if (!report || typeof report.blocksChecked !== 'number' || !Array.isArray(report.damaged)) throw new ControlError(ControlErrorCode.Unavailable, `scrub of filesystem ${fsid}: the owner sent no report`);
    return report;
  }

  async fsck(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<FsckReport> {
    const report = (await this.requireMaintenance('fsck').run('fsck', fsid, progress, signal)) as FsckReport | null;
    if (!report || typeof report.clean !== 'boolean' || !Array.isArray(report.problems)) throw new ControlError(ControlErrorCode.Unavailable, `fsck of filesystem ${fsid}: the owner sent no report`);
    return report;
  }

  private requireMaintenance(kind: string): MaintenanceClient {
    if (!this.opts.maintenance) throw new ControlError(ControlErrorCode.Unavailable, `${kind} of a cluster filesystem runs on its owner and needs REDIS_URL (the event bus) to ask it`);
    return this.opts.maintenance;
  }

  setExports(_exports: ExportRecord[]): void {
    // Movers load exports themselves; the admin-api serves none.
  }

  servedFilesystems(): bigint[] {
    return [];
  }
}
