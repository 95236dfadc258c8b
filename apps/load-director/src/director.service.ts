/**
 * The load director inside Nest: builds the route source (static table or PostgreSQL with
 * Redis events), starts the relay in its worker thread (relay-host.ts) on the NFS port, binds
 * the portmapper, and on shutdown stops accepting, lets in-flight calls finish (bounded by the
 * relay's grace), then closes. A relay worker that dies ends the process with exit code 1.
 */
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { DirectorConfig, Logger } from '@ferry/platform';
import { IPPROTO_TCP, mountAndNfsMappings, publishPortmap, type PortmapPublication } from '@ferry/nfs';
import { RedisEventBus } from '@ferry/control';
import { DirectorMetrics } from './director-metrics';
import { PgRouteSource } from './pg-route-source';
import { RelayHost } from './relay-host';
import { StaticRouteSource, type RouteSource } from './routes';
import { CONFIG, LOGGER } from './tokens';

@Injectable()
export class DirectorService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly routes: RouteSource;
  readonly relay: RelayHost;
  readonly metrics: DirectorMetrics;
  private portmap?: PortmapPublication;
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
    // RFC 1833: MOUNT and NFS share the director's port, TCP only (the director relays no UDP).
    this.portmap = await publishPortmap({
      port: this.config.portmapPort,
      bindAddress: this.config.bindAddress,
      mappings: mountAndNfsMappings(this.config.nfsPort, [IPPROTO_TCP]),
      logger: this.logger,
      serverLogger: this.logger.child({ component: 'portmap' }),
    });
    this.listening = true;
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    await this.relay.refreshStats();
    this.logger.info({ signal, clients: this.relay.clientCount }, 'shutting down: finishing in-flight calls');
    this.listening = false;
    await this.portmap?.close();
    await this.relay.close();
    await this.routes.close();
    this.logger.info('stopped cleanly');
  }
}
