/**
 * The data mover's data plane inside Nest: opens the pool and the filesystems it serves, binds
 * the RPC listeners (MOUNT and NFS on one port, the portmapper), and on shutdown stops
 * accepting calls, lets in-flight ones finish, and flushes buffered data before the process
 * exits (SIGTERM loses nothing a client was told is written, and nothing UNSTABLE either).
 */
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { promises as fsp } from 'node:fs';
import { MoverMetrics, type Logger, type MoverConfig } from '@ferry/platform';
import { RpcServer, type RpcObserver } from '@ferry/oncrpc';
import { IPPROTO_TCP, IPPROTO_UDP, NfsService, mountAndNfsMappings, publishPortmap, type PortmapPublication } from '@ferry/nfs';
import { Pool } from '@ferry/pool';
import { DEFAULT_FSID, defaultPoolBytes, ensureDataDir, isInitialized, markInitialized, loadExports, loadHandleKey, lockDataDir, poolDevicePath, unlockDataDir } from './embedded-store';
import { MoverStorageHost, moverStorageHost } from './storage-host';
import { CONFIG, EXPORTS_SOURCE, LOGGER, type ExportsSource } from './tokens';

@Injectable()
export class MoverService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private pool?: Pool;
  private nfs?: NfsService;
  private rpc?: RpcServer;
  private portmap?: PortmapPublication;
  private ready = false;
  private failed?: string;
  /** What the control plane drives (STORAGE_HOST): usable once the application has started. */
  readonly storageHost: MoverStorageHost;

  constructor(
    @Inject(CONFIG) private readonly config: MoverConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(EXPORTS_SOURCE) private readonly exportsSource: ExportsSource,
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

  async onApplicationBootstrap(): Promise<void> {
    const { dataDir } = this.config;
    await ensureDataDir(dataDir);
    await lockDataDir(dataDir);
    const handleKey = await loadHandleKey(dataDir);
    const exports = this.exportsSource === 'file' ? await loadExports(dataDir) : [];
    const nfs = new NfsService({
      filesystems: new Map(),
      exports,
      handleKey,
      logger: this.logger.child({ component: 'nfs' }),
      stats: { bytesRead: (n) => this.metrics.bytesRead.inc(n), bytesWritten: (n) => this.metrics.bytesWritten.inc(n) },
    });
    this.nfs = nfs;
    await this.openFileSystems();

    this.rpc = new RpcServer({ programs: nfs.programs(), busyPollUs: this.config.busyPollUs, trustedProxyNetworks: this.config.directorNetworks, observer: this.observer(), logger: this.logger.child({ component: 'rpc' }) });
    const host = this.config.bindAddress;
    await this.rpc.listenTcp(this.config.nfsPort, host);
    await this.rpc.listenUdp(this.config.nfsPort, host);
    this.logger.info({ port: this.config.nfsPort, host, exports: exports.map((e) => e.path) }, 'MOUNT v3 and NFS v3 listening (TCP and UDP)');
    // RFC 1833: MOUNT and NFS share the port, over TCP and UDP.
    this.portmap = await publishPortmap({
      port: this.config.portmapPort,
      bindAddress: host,
      mappings: mountAndNfsMappings(this.config.nfsPort, [IPPROTO_TCP, IPPROTO_UDP]),
      logger: this.logger,
      serverLogger: this.logger.child({ component: 'portmap' }),
    });
    this.ready = true;
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.logger.info({ signal }, 'shutting down: finishing in-flight calls and flushing data');
    this.ready = false;
    await this.portmap?.close();
    await this.rpc?.close();
    await this.storageHost.closeAll();
    await this.pool?.close();
    await unlockDataDir(this.config.dataDir);
    this.logger.info('stopped cleanly');
  }

  private observer(): RpcObserver {
    return {
      onCallDone: (_call, programName, procName, durationNs, ok) => {
        this.metrics.rpcCalls.record(programName, procName, ok, durationNs);
      },
      onError: (call, err) => {
        this.metrics.rpcErrors.inc();
        this.logger.error({ err, xid: call?.xid, prog: call?.prog, proc: call?.proc }, 'internal fault in RPC call');
      },
    };
  }

  /**
   * Opens the pool and serves every filesystem in it, creating the pool and the default
   * filesystem on first start. A first start that was interrupted (killed between creating the
   * pool device and finishing the filesystem format) leaves a device that does not open and no
   * `initialized` marker; nothing was ever served from it, so it is recreated. Once the marker
   * exists, a device that does not open is an error to report, never something to overwrite.
   */
  private async openFileSystems(): Promise<void> {
    const initialized = await isInitialized(this.config.dataDir);
    try {
      await this.openOrCreate();
      if (!initialized) await markInitialized(this.config.dataDir);
    } catch (err) {
      if (initialized) throw err;
      this.logger.warn({ err }, 'an interrupted first start left a partial pool device: recreating it');
      await this.storageHost.closeAll().catch(() => undefined);
      await this.pool?.close().catch(() => undefined);
      this.pool = undefined;
      await fsp.rm(poolDevicePath(this.config.dataDir), { force: true });
      await this.openOrCreate();
      await markInitialized(this.config.dataDir);
    }
  }

  private async openOrCreate(): Promise<void> {
    const devPath = poolDevicePath(this.config.dataDir);
    let fresh = false;
    try {
      await fsp.access(devPath);
    } catch {
      fresh = true;
    }
    if (fresh) {
      const bytes = this.config.poolBytes || (await defaultPoolBytes(this.config.dataDir));
      this.logger.info({ device: devPath, bytes }, 'first start: creating the pool');
      this.pool = await Pool.create([devPath], { createSizeBytes: bytes });
    } else {
      this.pool = await Pool.open([devPath]);
    }
    this.storageHost.attach(this.pool, this.nfs);
    // The default filesystem's limit follows FERRY_FS_SIZE (else the whole pool) at each start.
    const ps = this.pool.stats();
    const maxBytes = this.config.fsBytes || ps.totalSlices * ps.sliceDataBytes;
    if (!this.storageHost.poolFilesystems().includes(DEFAULT_FSID)) {
      this.logger.info({ fsid: DEFAULT_FSID.toString(), maxBytes }, 'creating the default filesystem');
      await this.storageHost.createFilesystem(DEFAULT_FSID, maxBytes);
    }
    for (const fsid of this.storageHost.poolFilesystems()) {
      await this.storageHost.openFilesystem(fsid, fsid === DEFAULT_FSID ? { maxBytes } : {});
    }
  }
}
