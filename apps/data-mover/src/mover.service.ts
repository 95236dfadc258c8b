/**
 * The data mover's data plane inside Nest: opens the pool and the filesystems it serves, binds
 * the RPC listeners (MOUNT and NFS on one port, the portmapper), and on shutdown stops
 * accepting calls, lets in-flight ones finish, and flushes buffered data before the process
 * exits (SIGTERM loses nothing a client was told is written, and nothing UNSTABLE either).
 */
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { MoverMetrics, type Logger, type MoverConfig } from '@ferry/platform';
import { RpcServer, type RpcObserver } from '@ferry/oncrpc';
import { NfsService, PortmapRegistry, createPortmapProgram, probeRpcbind, registerWithRpcbind, unregisterFromRpcbind, type PortmapMapping } from '@ferry/nfs';
import { Pool } from '@ferry/pool';
import { DEFAULT_FSID, defaultPoolBytes, ensureDataDir, isInitialized, markInitialized, loadExports, loadHandleKey, lockDataDir, poolDevicePath, unlockDataDir } from './embedded-store';
import { nowTimespec } from './clock';
import { MoverStorageHost } from './storage-host';
import { CONFIG, EXPORTS_SOURCE, LOGGER, type ExportsSource } from './tokens';

const PROG_NFS = 100003;
const PROG_MOUNT = 100005;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

@Injectable()
export class MoverService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private pool?: Pool;
  private nfs?: NfsService;
  private rpc?: RpcServer;
  private portmapServer?: RpcServer;
  private rpcbindMappings: PortmapMapping[] = [];
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
    this.storageHost = new MoverStorageHost({
      logger: this.logger.child({ component: 'storage' }),
      clock: nowTimespec,
      random: (n) => randomBytes(n),
      writeBufferBytes: this.config.writeBufferBytes,
      readBufferBytes: this.config.readBufferBytes,
      scrubBytesPerSecond: this.config.scrubBytesPerSecond,
      onReadahead: (outcome) => this.metrics.readahead.inc({ outcome }),
    });
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
    await this.startPortmapper();
    this.ready = true;
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.logger.info({ signal }, 'shutting down: finishing in-flight calls and flushing data');
    this.ready = false;
    if (this.rpcbindMappings.length) {
      await unregisterFromRpcbind(this.rpcbindMappings, { host: '127.0.0.1', port: this.config.portmapPort, timeoutMs: 1000 }).catch((err: unknown) =>
        this.logger.warn({ err }, 'could not unregister from rpcbind'),
      );
    }
    await this.portmapServer?.close();
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

  /**
   * RFC 1833: clients find MOUNT and NFS through the portmapper. A system rpcbind on the port
   * gets our mappings; otherwise we serve the portmapper ourselves when we can bind the port;
   * otherwise we say so (clients then need port= and mountport=).
   */
  private async startPortmapper(): Promise<void> {
    const port = this.config.portmapPort;
    if (port === 0) {
      this.logger.info('portmapper off (FERRY_PORTMAP_PORT=0): clients mount with port= and mountport=');
      return;
    }
    const nfsPort = this.config.nfsPort;
    const mappings: PortmapMapping[] = [];
    for (const prot of [IPPROTO_TCP, IPPROTO_UDP]) {
      mappings.push({ prog: PROG_NFS, vers: 3, prot, port: nfsPort });
      for (const vers of [1, 3]) mappings.push({ prog: PROG_MOUNT, vers, prot, port: nfsPort });
    }
    if (await probeRpcbind({ host: '127.0.0.1', port, timeoutMs: 500 })) {
      try {
        await registerWithRpcbind(mappings, { host: '127.0.0.1', port, timeoutMs: 2000 });
        this.rpcbindMappings = mappings;
        this.logger.info({ port }, 'registered MOUNT and NFS with the system rpcbind');
      } catch (err) {
        this.logger.warn({ err, port }, 'a portmapper answers but refused our registration: clients need port= and mountport=');
      }
      return;
    }
    const registry = new PortmapRegistry();
    for (const m of mappings) registry.set(m);
    registry.set({ prog: 100000, vers: 2, prot: IPPROTO_TCP, port });
    registry.set({ prog: 100000, vers: 2, prot: IPPROTO_UDP, port });
    const server = new RpcServer({ programs: [createPortmapProgram(registry)], logger: this.logger.child({ component: 'portmap' }) });
    try {
      await server.listenTcp(port, this.config.bindAddress);
      await server.listenUdp(port, this.config.bindAddress);
      this.portmapServer = server;
      this.logger.info({ port }, 'serving the portmapper');
    } catch (err) {
      await server.close();
      const code = (err as NodeJS.ErrnoException).code;
      this.logger.warn({ port, code }, 'no portmapper: the port is taken or needs root; NFS is still served, clients need port= and mountport=');
    }
  }
}
