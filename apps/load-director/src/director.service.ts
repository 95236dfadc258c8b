/**
 * The load director inside Nest: builds the route source (static table or PostgreSQL with
 * Redis events), starts the relay in its worker thread (relay-host.ts) on the NFS port, binds
 * the portmapper, and on shutdown stops accepting, lets in-flight calls finish (bounded by the
 * relay's grace), then closes. A relay worker that dies ends the process with exit code 1.
 */
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { DirectorConfig, Logger } from '@ferry/platform';
import { RpcServer } from '@ferry/oncrpc';
import { PortmapRegistry, createPortmapProgram, probeRpcbind, registerWithRpcbind, unregisterFromRpcbind, type PortmapMapping } from '@ferry/nfs';
import { RedisEventBus } from '@ferry/control';
import { PROG_MOUNT, PROG_NFS } from './call-router';
import { DirectorMetrics } from './director-metrics';
import { PgRouteSource } from './pg-route-source';
import { RelayHost } from './relay-host';
import { StaticRouteSource, type RouteSource } from './routes';
import { CONFIG, LOGGER } from './tokens';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const PMAP_PROG = 100000;

@Injectable()
export class DirectorService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly routes: RouteSource;
  readonly relay: RelayHost;
  readonly metrics: DirectorMetrics;
  private portmapServer?: RpcServer;
  private rpcbindMappings: PortmapMapping[] = [];
  private listening = false;

  constructor(
    @Inject(CONFIG) private readonly config: DirectorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    const routeLogger = logger.child({ component: 'routes' });
    if (config.staticRoutes !== undefined) {
      this.routes = new StaticRouteSource(config.staticRoutes);
    } else {
      this.routes = new PgRouteSource({
        databaseUrl: config.databaseUrl!,
        pollMs: config.routeRefreshMs,
        logger: routeLogger,
        events: config.redisUrl ? new RedisEventBus({ redisUrl: config.redisUrl }) : undefined,
      });
    }
    this.relay = new RelayHost({
      routes: this.routes,
      holdMs: config.holdMs,
      maxClientBytes: config.maxClientBytes,
      maxRecordBytes: config.maxRecordBytes,
      busyPollUs: config.busyPollUs,
      logger: logger.child({ component: 'relay' }),
      onDeath: ({ err, code }) => {
        // No relay behind /healthz would be a director that looks alive and relays nothing.
        logger.fatal({ err, code }, 'relay worker died: exiting');
        process.exit(1);
      },
    });
    this.metrics = new DirectorMetrics(this.relay.stats, this.routes);
  }

  /** Ready: the client port is bound and a route table was loaded. */
  notReadyReason(): string | undefined {
    if (!this.listening) return 'starting';
    if (this.routes instanceof PgRouteSource && !this.routes.loaded) return 'no route table loaded yet';
    return undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.routes.start();
    const table = this.routes.current();
    this.logger.info({ filesystems: table.owners.size, exports: [...table.exports.keys()], movers: table.movers.map((m) => m.key) }, 'routes loaded');
    await this.relay.listen(this.config.nfsPort, this.config.bindAddress);
    this.logger.info({ port: this.config.nfsPort, host: this.config.bindAddress, holdMs: this.config.holdMs }, 'director relaying NFS v3 and MOUNT (TCP)');
    await this.startPortmapper();
    this.listening = true;
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    await this.relay.refreshStats();
    this.logger.info({ signal, clients: this.relay.clientCount }, 'shutting down: finishing in-flight calls');
    this.listening = false;
    if (this.rpcbindMappings.length) {
      await unregisterFromRpcbind(this.rpcbindMappings, { host: '127.0.0.1', port: this.config.portmapPort, timeoutMs: 1000 }).catch((err: unknown) =>
        this.logger.warn({ err }, 'could not unregister from rpcbind'),
      );
    }
    await this.portmapServer?.close();
    await this.relay.close();
    await this.routes.close();
    this.logger.info('stopped cleanly');
  }

  /**
   * RFC 1833: clients find MOUNT and NFS through the portmapper; both are on the director's own
   * port, TCP only (the director relays no UDP). A system rpcbind gets our mappings; otherwise
   * we serve the portmapper ourselves when we can bind the port.
   */
  private async startPortmapper(): Promise<void> {
    const port = this.config.portmapPort;
    if (port === 0) {
      this.logger.info('portmapper off (FERRY_PORTMAP_PORT=0): clients mount with port= and mountport=');
      return;
    }
    const nfsPort = this.config.nfsPort;
    const mappings: PortmapMapping[] = [{ prog: PROG_NFS, vers: 3, prot: IPPROTO_TCP, port: nfsPort }];
    for (const vers of [1, 3]) mappings.push({ prog: PROG_MOUNT, vers, prot: IPPROTO_TCP, port: nfsPort });
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
    registry.set({ prog: PMAP_PROG, vers: 2, prot: IPPROTO_TCP, port });
    registry.set({ prog: PMAP_PROG, vers: 2, prot: IPPROTO_UDP, port });
    const server = new RpcServer({ programs: [createPortmapProgram(registry)], logger: this.logger.child({ component: 'portmap' }) });
    try {
      await server.listenTcp(port, this.config.bindAddress);
      await server.listenUdp(port, this.config.bindAddress);
      this.portmapServer = server;
      this.logger.info({ port }, 'serving the portmapper');
    } catch (err) {
      await server.close();
      const code = (err as NodeJS.ErrnoException).code;
      this.logger.warn({ port, code }, 'no portmapper: the port is taken or needs root; clients need port= and mountport=');
    }
  }
}
