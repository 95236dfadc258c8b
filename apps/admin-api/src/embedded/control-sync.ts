/**
 * Keeps the data mover of the embedded start in step with the control plane's database:
 *
 * - Seeding: the first start with an empty database records the pool, the filesystems the pool
 *   already holds (the default filesystem is `default`, fsid 1) and the export table of
 *   `exports.json` (the mover's file before the control plane existed), so upgrading loses no
 *   export. From then on the database is the source of truth and `exports.json` is not read again.
 * - This process is a row in `movers` (named by FERRY_MOVER_NAME, default the host name) with a
 *   heartbeat on the database clock every 5 s, and owns every filesystem of its pool.
 * - Exports: the export table is reloaded from the database on `exports.changed`, every 30 s
 *   (a lost event only delays a change) and when a MNT names a path the table does not hold (so a
 *   new export is mountable as soon as the API has answered), and handed to the NFS service,
 *   which applies it to the next call.
 * - Filesystems: a `ready` filesystem the mover does not serve (created while the process was
 *   down, or after a restore) is opened; `filesystems.changed` and the 30 s timer trigger the check.
 */
import { hostname } from 'node:os';
import type { DataSource } from 'typeorm';
import {
  EVENT_TOPICS,
  ExportEntity,
  FreshLoad,
  FilesystemEntity,
  MoverEntity,
  PoolEntity,
  loadExportRecords,
  type EventBus,
  type ExportRecord,
  type StorageHost,
} from '@ferry/control';
import type { Logger } from '@ferry/platform';

export const HEARTBEAT_MS = 5_000;
export const RESYNC_MS = 30_000;
export const DEFAULT_FILESYSTEM_NAME = 'default';

export interface ControlSyncOptions {
  ds: DataSource;
  host: StorageHost;
  events: EventBus;
  logger: Logger;
  moverName?: string;
  address: string;
  nfsPort: number;
  httpPort: number;
  /** The export table of exports.json, imported once into an empty database. */
  legacyExports: () => Promise<ExportRecord[]>;
}

export class ControlSync {
  private heartbeat?: NodeJS.Timeout;
  private resync?: NodeJS.Timeout;
  private moverRowId?: string;
  private stopped = false;
  /** Serialises reloads: an event during a reload runs one more reload afterwards. */
  private readonly reloads = new FreshLoad(
    () =>
      this.reloadOnce().catch((err: unknown) =>
        this.opts.logger.error({ err }, 'reloading the configuration from the control plane failed (retrying on the next event or in 30 s)'),
      ),
    () => this.stopped,
  );

  constructor(private readonly opts: ControlSyncOptions) {}

  get moverId(): string | undefined {
    return this.moverRowId;
  }

  async start(): Promise<void> {
    await this.registerMover();
    await this.seed();
    await this.reload();
    // A MNT of a path not in the table reloads it first (reload() waits for a load that starts
    // after the call), so an export is mountable the moment the API has answered.
    this.opts.host.setExportRefresher?.(() => this.reload());
    this.opts.events.subscribe(EVENT_TOPICS.exportsChanged, () => void this.reload());
    this.opts.events.subscribe(EVENT_TOPICS.filesystemsChanged, () => void this.reload());
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.resync = setInterval(() => void this.reload(), RESYNC_MS);
    this.heartbeat.unref();
    this.resync.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearInterval(this.resync);
    await this.reloads.current;
  }

  private async registerMover(): Promise<void> {
    const name = this.opts.moverName || hostname();
    const repo = this.opts.ds.getRepository(MoverEntity);
    await repo.upsert({ name, address: this.opts.address, nfsPort: this.opts.nfsPort, httpPort: this.opts.httpPort }, { conflictPaths: ['name'] });
    await this.opts.ds.query(`UPDATE movers SET last_heartbeat = now() WHERE name = $1`, [name]);
    const row = await repo.findOneByOrFail({ name });
    this.moverRowId = row.id;
    this.opts.logger.info({ mover: name, id: row.id, state: row.state }, 'registered with the control plane');
  }

  private async beat(): Promise<void> {
    if (this.stopped || !this.moverRowId) return;
    try {
      await this.opts.ds.query(`UPDATE movers SET last_heartbeat = now() WHERE id = $1`, [this.moverRowId]);
    } catch (err) {
      this.opts.logger.warn({ err }, 'heartbeat to the control plane failed');
    }
  }

  /** First start on an empty database: record what the pool already holds, and exports.json. */
  private async seed(): Promise<void> {
    const { ds, host } = this.opts;
    // Every later start finds filesystems: nothing to read from the pool or exports.json then.
    if ((await ds.getRepository(FilesystemEntity).count()) > 0) return;
    const info = await host.poolInfo();
    const served = host.servedFilesystems();
    const legacy = await this.opts.legacyExports();
    await ds.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock(7365001)');
      if ((await m.count(FilesystemEntity)) > 0) return; // seeded meanwhile by another process
      let pool = await m.findOneBy(PoolEntity, { name: 'pool0' });
      if (!pool) pool = await m.save(m.create(PoolEntity, { name: 'pool0', sliceBytes: info.sliceBytes }));
      const ids = new Map<bigint, string>();
      for (const fsid of served) {
        const usage = await host.usage(fsid);
        const name = fsid === 1n ? DEFAULT_FILESYSTEM_NAME : `fs${fsid}`;
        const row = await m.save(
          m.create(FilesystemEntity, { name, fsid: Number(fsid), poolId: pool.id, sizeBytes: usage?.sizeBytes ?? info.sliceBytes, state: 'ready', ownerMoverId: this.moverRowId ?? null }),
        );
        ids.set(fsid, row.id);
      }
      for (const e of legacy) {
        const filesystemId = ids.get(e.fsid);
        if (!filesystemId) {
          this.opts.logger.warn({ path: e.path, fsid: e.fsid.toString() }, 'exports.json names a filesystem the pool does not hold: not imported');
          continue;
        }
        await m.save(
          m.create(ExportEntity, {
            filesystemId,
            path: e.path,
            clients: e.clients,
            access: e.access,
            rootSquash: e.rootSquash,
            allSquash: e.allSquash,
            anonUid: e.anonUid,
            anonGid: e.anonGid,
            secure: e.secure,
          }),
        );
      }
      await m.query(`INSERT INTO audit_log (actor, action, target, detail, status) VALUES ('system', 'control.seed', 'pool0', $1, 201)`, [
        JSON.stringify({ filesystems: served.map(String), exports: legacy.map((e) => e.path) }),
      ]);
      this.opts.logger.info({ filesystems: served.length, exports: legacy.length }, 'control plane seeded from the pool and exports.json');
    });
  }

  /** Serves every ready filesystem and applies the database's export table. */
  reload(): Promise<void> {
    return this.reloads.run();
  }

  private async reloadOnce(): Promise<void> {
    const { ds, host } = this.opts;
    const ready = await ds.getRepository(FilesystemEntity).findBy({ state: 'ready' });
    const served = new Set(host.servedFilesystems().map(String));
    for (const fs of ready) {
      if (served.has(String(fs.fsid))) continue;
      this.opts.logger.info({ name: fs.name, fsid: fs.fsid }, 'serving a ready filesystem of the control plane');
      await host.createFilesystem(BigInt(fs.fsid), fs.sizeBytes);
    }
    host.setExports(await loadExportRecords(ds));
  }
}
