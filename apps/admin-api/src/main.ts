/**
 * The embedded start (`npm start`): one process with the admin REST API, the job workers and
 * one data mover (docs/control-plane.md, "Processes").
 *
 * Order: settings → database (DATABASE_URL, else an embedded PostgreSQL in $FERRY_DATA_DIR/db)
 * and its migrations → events and jobs (Redis when REDIS_URL is set, else in-process) → the Nest
 * application with the mover and admin modules → the mover joins the control plane (seeding an
 * empty database from the pool and exports.json) → jobs start → HTTP listens.
 * SIGTERM/SIGINT stop in the reverse order: running jobs are handed back (BullMQ gives them to
 * the next process; the in-process queue runs them again at the next start), in-flight NFS calls
 * finish, buffered data is flushed, then the database stops.
 */
import 'reflect-metadata';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import IORedis from 'ioredis';
import type { DataSource } from 'typeorm';
import {
  BullJobQueue,
  InProcessEventBus,
  InProcessJobQueue,
  TypeOrmJobStore,
  createDataSource,
  runMigrations,
  startEmbeddedPostgres,
  type EmbeddedPostgres,
  type EventBus,
  type JobLogger,
  type JobQueue,
  type StorageHost,
} from '@ferry/control';
import { ConfigError, MoverMetrics, createLogger, exitOnStopSignals, loadControlConfig, loadMoverConfig, type ControlConfig, type Logger, type MoverConfig } from '@ferry/platform';
import { AppModule as MoverModule } from '../../data-mover/src/app.module';
import { loadExports } from '../../data-mover/src/embedded-store';
import { PinoNestLogger } from '../../data-mover/src/pino-nest-logger';
import { STORAGE_HOST } from '../../data-mover/src/tokens';
import { AdminModule } from './admin.module';
import { ControlSync } from './embedded/control-sync';
import { DeferredStorageHost } from './embedded/deferred-storage-host';
import { storageProcessors } from './embedded/processors';
import { RedisEventBus } from './events';
import { setupAdminApp } from './openapi';
import { PoolService } from './services/pool.service';
import { ferryVersion } from './services/status.service';

const VERSION = ferryVersion();

function settings(): { mover: MoverConfig; control: ControlConfig } {
  try {
    return { mover: loadMoverConfig(), control: loadControlConfig() };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferry: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

function jobLogger(logger: Logger): JobLogger {
  const l = logger.child({ component: 'jobs' });
  return { warn: (obj: object, msg?: string) => l.warn(obj, msg), error: (obj: object, msg?: string) => l.error(obj, msg) };
}

/** Everything that must be stopped at exit, in reverse order of start. */
class Stack {
  private readonly items: Array<{ name: string; stop: () => Promise<unknown> }> = [];
  push(name: string, stop: () => Promise<unknown>): void {
    this.items.push({ name, stop });
  }
  async unwind(logger: Logger): Promise<boolean> {
    let ok = true;
    for (const { name, stop } of this.items.reverse()) {
      try {
        await stop();
      } catch (err) {
        ok = false;
        logger.error({ err, part: name }, 'stopping failed');
      }
    }
    this.items.length = 0;
    return ok;
  }
}

async function bootstrap(): Promise<void> {
  const { mover: config, control } = settings();
  const logger = createLogger(config.logLevel, 'ferry');
  const stack = new Stack();
  exitOnStopSignals(logger, () => stack.unwind(logger));

  try {
    // Database.
    let url = control.databaseUrl;
    if (!url) {
      const pg: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir: config.dataDir, logger: logger.child({ component: 'postgres' }) });
      stack.push('embedded postgres', () => pg.stop());
      url = pg.url;
      logger.info({ port: pg.port }, 'embedded PostgreSQL started');
    }
    const ds: DataSource = createDataSource({ url });
    await ds.initialize();
    stack.push('database connection', () => ds.destroy());
    await runMigrations(ds);

    // Events and jobs.
    let events: EventBus;
    let redis: IORedis | undefined;
    if (control.redisUrl) {
      const bus = new RedisEventBus({ redisUrl: control.redisUrl });
      await bus.onModuleInit();
      stack.push('event bus', () => bus.onApplicationShutdown());
      events = bus;
      redis = new IORedis(control.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await redis.connect();
      const r = redis;
      stack.push('redis', () => r.quit());
    } else {
      events = new InProcessEventBus((topic, err) => logger.error({ err, topic }, 'event handler failed'));
    }
    const store = new TypeOrmJobStore(ds);
    const jobs: JobQueue = control.redisUrl
      ? new BullJobQueue(store, { redisUrl: control.redisUrl, lockDurationMs: 10_000, stalledIntervalMs: 5_000, logger: jobLogger(logger) })
      : new InProcessJobQueue(store, { logger: jobLogger(logger) });

    // The application: mover + admin API on one HTTP port.
    const host = new DeferredStorageHost();
    const metrics = new MoverMetrics();
    @Module({})
    class RootModule {
      static forRoot(): DynamicModule {
        return {
          module: RootModule,
          imports: [
            MoverModule.forRoot(config, logger, {
              exportsSource: 'control',
              metrics,
              readiness: async () => {
                try {
                  await ds.query('SELECT 1');
                } catch (err) {
                  return `database: ${(err as Error).message}`;
                }
                if (redis && redis.status !== 'ready') return `redis: ${redis.status}`;
                return undefined;
              },
            }),
            AdminModule.forRoot({
              dataSource: ds,
              storageHost: host,
              jobs,
              events,
              dataDir: config.dataDir,
              logger: logger.child({ component: 'admin' }),
              redis,
              version: VERSION,
              registerPool: false,
              metricsRegistry: metrics.registry,
            }),
          ],
        };
      }
    }
    const app = await NestFactory.create(RootModule.forRoot(), { logger: new PinoNestLogger(logger), abortOnError: false, bodyParser: false });
    host.bind(app.get<StorageHost>(STORAGE_HOST, { strict: false }));
    setupAdminApp(app, VERSION);
    await app.init();
    stack.push('application (NFS service, admin API)', () => app.close());

    const sync = new ControlSync({
      ds,
      host,
      events,
      logger: logger.child({ component: 'control-sync' }),
      moverName: control.moverName,
      address: config.bindAddress,
      nfsPort: config.nfsPort,
      httpPort: config.httpPort,
      legacyExports: () => loadExports(config.dataDir),
    });
    await sync.start();
    stack.push('control sync', () => sync.stop());
    await app.get(PoolService, { strict: false }).registerHostPool();

    for (const p of storageProcessors({ ds, host, events, moverId: () => sync.moverId })) jobs.register(p);
    await jobs.start();
    stack.push('jobs', () => jobs.close({ abandonRunning: true }));

    if (config.bindAddress === '::') await app.listen(config.httpPort);
    else await app.listen(config.httpPort, config.bindAddress);
    logger.info({ httpPort: config.httpPort, database: control.databaseUrl ? 'external' : 'embedded', redis: Boolean(control.redisUrl) }, 'admin API on /api/v1 (docs at /api/docs); /healthz, /readyz, /metrics');
  } catch (err) {
    logger.error({ err }, 'start failed');
    await stack.unwind(logger);
    throw err;
  }
}

bootstrap().catch((err: unknown) => {
  process.stderr.write(`ferry: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
