/**
 * A data mover of a cluster (docs/cluster.md): it serves the filesystems it holds leases on, from
 * the pool every mover shares, to the directors in front of it.
 *
 * Start: wait for the cluster secret (handle key) and the pool the admin-api creates, apply
 * migrations (idempotent, locked), register as a mover, load every export of the cluster, listen,
 * then take leases. Stop (SIGTERM): hand every filesystem over cleanly (flush, release: a planned
 * move for each), then close the listeners, the pool and the connections.
 *
 * What is not here: the portmapper (clients reach movers only through directors, which serve it).
 */
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { promises as fsp } from 'node:fs';
import {
  ControlError,
  ControlErrorCode,
  EVENT_TOPICS,
  LeaseStore,
  MaintenanceServer,
  PgPoolCoordinator,
  RedisEventBus,
  createDataSource,
  FreshLoad,
  loadExportRecords,
  pgPool,
  runMigrations,
  type EventBus,
} from '@ferry/control';
import { MoverMetrics, type Logger, type MoverConfig } from '@ferry/platform';
import { RpcServer } from '@ferry/oncrpc';
import { NfsService } from '@ferry/nfs';
import { Pool } from '@ferry/pool';
import type { DataSource } from 'typeorm';
import { MoverStorageHost, moverStorageHost } from '../storage-host';
import { CONFIG, LOGGER, type MoverStatus } from '../tokens';
import type { ClusterMoverConfig } from './cluster-config';
import { Ownership } from './ownership';

export const CLUSTER_CONFIG = Symbol('CLUSTER_CONFIG');

const EXPORT_RELOAD_MS = 30_000;
const WAIT_LOG_MS = 10_000;

@Injectable()
export class ClusterMoverService implements MoverStatus, OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly storageHost: MoverStorageHost;
  private pool?: Pool;
  private nfs?: NfsService;
  private rpc?: RpcServer;
  private ds?: DataSource;
  private db?: Awaited<ReturnType<typeof pgPool>>;
  private events?: EventBus & { onApplicationShutdown?: () => Promise<void> };
  private ownership?: Ownership;
  private maintenance?: MaintenanceServer;
  private coordinator?: PgPoolCoordinator;
  private reloadTimer?: NodeJS.Timeout;
  /** fsids of every ready filesystem of the cluster (for JUKEBOX vs STALE). */
  private known = new Set<bigint>();
  private ready = false;
  private failed?: string;
  private stopping = false;

  constructor(
    @Inject(CONFIG) private readonly config: MoverConfig,
    @Inject(CLUSTER_CONFIG) private readonly cluster: ClusterMoverConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: MoverMetrics,
  ) {
    this.storageHost = moverStorageHost(this.config, this.logger, this.metrics);
  }

  isReady(): boolean {
    return this.ready && !this.failed;
  }
  failure(): string | undefined {
    return this.failed;
  }
  filesystemCount(): number {
    return this.storageHost.servedFilesystems().length;
  }
  connectionCount(): number {
    return this.rpc?.connectionCount ?? 0;
  }

  /**
   * Starts in the background: /healthz answers while the mover waits for the key, the database
   * and the pool (readiness says not yet); a start that fails for good is a failed /healthz.
   */
  onApplicationBootstrap(): void {
    this.starting = this.start().catch((err: unknown) => {
      if (this.stopping) return;
      this.failed = `start failed: ${String(err)}`;
      this.logger.error({ err }, 'cluster mover failed to start');
    });
  }
  private starting?: Promise<void>;

  private async start(): Promise<void> {
    const c = this.cluster;
    const handleKey = await this.waitFor('the handle key', () => readKey(c.handleKeyFile));
    this.ds = createDataSource({ url: c.databaseUrl, poolSize: 2 });
    await this.waitFor('the database', () => runMigrations(this.ds!));
    this.db = await pgPool(c.databaseUrl, { max: 4, applicationName: `ferry-mover-${c.moverName}` });
    this.coordinator = new PgPoolCoordinator(c.databaseUrl);
    const coordinator = this.coordinator;
    this.pool = await this.waitFor('the pool', () => Pool.open(c.poolDevices, { coordinator }));
    // Once before any take-over: the first one of a new process otherwise also pays for the lock
    // connection and the code's first run (a rebalance onto a joining mover took 620 ms to open).
    await this.pool.refresh();
    if (c.redisUrl) {
      const bus = new RedisEventBus({ redisUrl: c.redisUrl });
      await bus.onModuleInit();
      this.events = bus;
    }

    const nfs = new NfsService({
      filesystems: new Map(),
      exports: [],
      handleKey,
      logger: this.logger.child({ component: 'nfs' }),
      stats: { bytesRead: (n) => this.metrics.bytesRead.inc(n), bytesWritten: (n) => this.metrics.bytesWritten.inc(n) },
      servedElsewhere: (fsid) => this.known.has(fsid),
      durableReplies: true,
    });
    this.nfs = nfs;
    this.storageHost.attach(this.pool, nfs);
    await this.reloadExports();
    nfs.setExportRefresher(() => this.reloadExports());
    this.events?.subscribe(EVENT_TOPICS.exportsChanged, () => void this.reloadExports());
    this.events?.subscribe(EVENT_TOPICS.filesystemsChanged, () => void this.reloadExports());
    const reload = (): void => {
      this.reloadTimer = setTimeout(() => void this.reloadExports().finally(() => !this.stopping && reload()), EXPORT_RELOAD_MS);
    };
    reload();

    this.rpc = new RpcServer({
      programs: nfs.programs(),
      busyPollUs: this.config.busyPollUs,
      trustedProxyNetworks: this.config.directorNetworks,
      observer: {
        onCallDone: (_call, programName, procName, durationNs, ok) => this.metrics.rpcCalls.record(programName, procName, ok, durationNs),
        onError: (call, err) => {
          this.metrics.rpcErrors.inc();
          this.logger.error({ err, xid: call?.xid, prog: call?.prog, proc: call?.proc }, 'internal fault in RPC call');
        },
      },
      logger: this.logger.child({ component: 'rpc' }),
    });
    await this.rpc.listenTcp(this.config.nfsPort, this.config.bindAddress);
    this.logger.info({ port: this.config.nfsPort, directorNetworks: this.config.directorNetworks }, 'MOUNT v3 and NFS v3 listening (TCP) for directors');

    const store = new LeaseStore(this.db, { leaseMs: c.leaseMs });
    const moverId = await store.registerMover({ name: c.moverName, address: c.advertiseAddress, nfsPort: this.config.nfsPort, httpPort: this.config.httpPort });
    const pool = this.pool;
    this.ownership = new Ownership(
      store,
      moverId,
      {
        open: async (fsid, wrap) => {
          await this.storageHost.openFilesystem(fsid, { bumpEpoch: true, wrapSpace: wrap });
          this.sizes.delete(fsid);
          void this.reloadExports();
        },
        release: (fsid) => this.storageHost.releaseFilesystem(fsid),
        drop: (fsid) => this.storageHost.dropFilesystem(fsid),
        refreshPool: () => pool.refresh(),
        // statfs of the open engine, as the embedded start shows it; sent with the renewals.
        usage: (fsid) => this.storageHost.usage(fsid),
      },
      this.logger.child({ component: 'ownership' }),
      this.events,
    );
    this.ownership.start();
    if (this.events) {
      // Scrub and fsck asked by the admin-api's jobs, for the filesystems served here
      // (libs/control/src/cluster/maintenance.ts, docs/cluster.md "Scrub and fsck").
      const ownership = this.ownership;
      this.maintenance = new MaintenanceServer({
        events: this.events,
        moverId,
        work: {
          owns: (fsid, epoch) => ownership.servingEpoch(fsid) === epoch,
          scrub: async (fsid, progress, signal) => {
            const epoch = ownership.servingEpoch(fsid);
            try {
              return await this.storageHost.scrub(fsid, progress, signal);
            } catch (err) {
              // The engine says only "cancelled" when a hand-over or a lost lease cut it short.
              if (ownership.servingEpoch(fsid) === epoch) throw err;
              throw new ControlError(ControlErrorCode.Unavailable, `filesystem ${fsid} stopped being served here during the scrub (moving to another mover, lease lost, or this mover stopping): ${String(err instanceof Error ? err.message : err)}`);
            }
          },
          // Offline on this mover: out of the NFS service (calls get JUKEBOX, the director holds
          // them), flushed and closed, checked, reopened and served again, all under the lease
          // this mover keeps renewing (its space stays fenced by it throughout).
          fsck: (fsid, progress, signal) => this.storageHost.fsck(fsid, progress, signal),
        },
        logger: this.logger.child({ component: 'maintenance' }),
      });
      this.maintenance.start();
    }
    this.ready = true;
    this.logger.info({ mover: c.moverName, id: moverId, address: c.advertiseAddress, leaseMs: c.leaseMs }, 'cluster mover ready');
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.logger.info({ signal }, 'shutting down: handing filesystems over');
    this.stopping = true;
    this.ready = false;
    await this.starting;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    // A running scrub or fsck is cut short (its job fails, saying so) rather than hold up the hand-over.
    await this.maintenance?.stop();
    await this.ownership?.stop();
    await this.rpc?.close();
    await this.storageHost.closeAll();
    await this.pool?.close();
    await this.coordinator?.close();
    await this.events?.onApplicationShutdown?.().catch(() => undefined);
    await this.db?.end().catch(() => undefined);
    await this.ds?.destroy().catch(() => undefined);
    this.logger.info('stopped cleanly');
  }

  /**
   * Loads the export table (and the cluster's filesystems) again. One load runs at a time, so an
   * older table never replaces a newer one; a call during a load runs one more afterwards and
   * waits for it, so every caller waits for a load that started after its call (what the NFS
   * service's MNT of an unknown path relies on).
   */
  private reloadExports(): Promise<void> {
    return this.exportLoads.run();
  }
  private readonly exportLoads = new FreshLoad(
    () => this.loadExportsOnce(),
    () => this.stopping,
  );

  private async loadExportsOnce(): Promise<void> {
    if (!this.ds || !this.nfs || this.stopping) return;
    try {
      const exports = await loadExportRecords(this.ds);
      const rows: Array<{ fsid: string; size_bytes: string }> = await this.ds.query(`SELECT fsid::text AS fsid, size_bytes::text AS size_bytes FROM filesystems WHERE state = 'ready'`);
      this.known = new Set(rows.map((r) => BigInt(r.fsid)));
      this.storageHost.setExports(exports);
      for (const r of rows) await this.applySize(BigInt(r.fsid), Number(r.size_bytes));
    } catch (err) {
      this.logger.warn({ err: String(err) }, 'could not reload exports (kept the last table)');
    }
  }

  /** The size in the database is the request (grow): the owner raises its filesystem's limit. */
  private async applySize(fsid: bigint, sizeBytes: number): Promise<void> {
    if (!this.storageHost.fileSystem(fsid) || this.sizes.get(fsid) === sizeBytes) return;
    const limit = this.storageHost.sizeLimit(fsid);
    if (limit !== undefined && sizeBytes > limit) {
      await this.storageHost.growFilesystem(fsid, sizeBytes).catch((err: unknown) => this.logger.warn({ fsid: fsid.toString(), err: String(err) }, 'could not grow the filesystem'));
    }
    this.sizes.set(fsid, sizeBytes);
  }
  private readonly sizes = new Map<bigint, number>();

  /** Retries `fn` until it succeeds (things the admin-api creates may not exist yet). */
  private async waitFor<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let lastLog = 0;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (this.stopping) throw err;
        if (Date.now() - lastLog > WAIT_LOG_MS) {
          this.logger.info({ err: String(err) }, `waiting for ${what}`);
          lastLog = Date.now();
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}

async function readKey(path: string): Promise<Buffer> {
  const key = await fsp.readFile(path);
  if (key.length !== 32) throw new Error(`${path}: expected 32 bytes, found ${key.length}`);
  return key;
}

