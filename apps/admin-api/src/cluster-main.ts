/**
 * The admin-api of a Ferry cluster (docs/cluster.md): the REST API, the job workers, and the
 * placement controller (one active among replicas). It creates what the cluster shares on first
 * start: the handle key file (FERRY_HANDLE_KEY_FILE) and the pool on FERRY_POOL_DEVICES (blank
 * or missing device files of FERRY_POOL_SIZE each). Movers and directors are separate processes.
 *
 * Settings: DATABASE_URL and FERRY_POOL_DEVICES, FERRY_HANDLE_KEY_FILE are required; REDIS_URL
 * (events and BullMQ jobs; without it movers and directors notice changes by polling),
 * FERRY_HTTP_PORT, FERRY_BIND_ADDRESS, FERRY_LOG_LEVEL as for every process.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { NestFactory } from '@nestjs/core';
import IORedis from 'ioredis';
import { Registry } from 'prom-client';
import {
  BullJobQueue,
  InProcessEventBus,
  InProcessJobQueue,
  MaintenanceClient,
  PgPoolCoordinator,
  PlacementController,
  RedisEventBus,
  TypeOrmJobStore,
  createDataSource,
  dedicatedConnection,
  pgPool,
  runMigrations,
  servingOwner,
  type EventBus,
  type JobLogger,
  type JobQueue,
} from '@ferry/control';
import { ConfigError, createLogger, exitOnStopSignals, loadMoverConfig, type Logger } from '@ferry/platform';
import { Pool, PoolError, PoolErrorCode } from '@ferry/pool';
import { nowTimespec } from '../../data-mover/src/clock';
import { PinoNestLogger } from '../../data-mover/src/pino-nest-logger';
import { MoverStorageHost } from '../../data-mover/src/storage-host';
import { loadClusterConfig } from '../../data-mover/src/cluster/cluster-config';
import { ClusterRootModule } from './cluster/cluster-root.module';
import { ClusterStorageHost } from './cluster/cluster-storage-host';
import { storageProcessors } from './embedded/processors';
import { setupAdminApp } from './openapi';
import { ferryVersion } from './services/status.service';

const VERSION = ferryVersion();

function settings() {
  try {
    return { base: loadMoverConfig(), cluster: loadClusterConfig() };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferry: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** Creates the 32-byte handle key once (whoever links it first wins; others read it). */
async function ensureHandleKey(path: string, logger: Logger): Promise<void> {
  try {
    const key = await fsp.readFile(path);
    if (key.length !== 32) throw new ConfigError(`FERRY_HANDLE_KEY_FILE ${path}: expected 32 bytes, found ${key.length}`);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  await fh.writeFile(randomBytes(32));
  await fh.sync();
  await fh.close();
  try {
    await fsp.link(tmp, path);
    logger.info({ path }, 'created the cluster handle key');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/** Opens the shared pool, creating it under the pool lock when its devices are blank. */
async function openOrCreatePool(devices: string[], deviceBytes: number, coordinator: PgPoolCoordinator, logger: Logger): Promise<Pool> {
  // Blank = a device file that does not exist yet or holds no label; Pool.create still refuses
  // a device with data on it, so a wrong path never gets formatted over something.
  const blank = (err: unknown): boolean =>
    err instanceof PoolError && (err.code === PoolErrorCode.NOT_A_POOL || (err.code === PoolErrorCode.DEVICE_ERROR && /ENOENT/.test(err.message)));
  try {
    return await Pool.open(devices, { coordinator });
  } catch (err) {
    if (!blank(err)) throw err;
  }
  await coordinator.exclusive(async () => {
    try {
      await (await Pool.open(devices)).close();
      return; // someone else created it meanwhile
    } catch (err) {
      if (!blank(err)) throw err;
    }
    for (const d of devices) await fsp.mkdir(dirname(d), { recursive: true });
    logger.info({ devices, deviceBytes }, 'creating the shared pool');
    const p = await Pool.create(devices, { createSizeBytes: deviceBytes });
    await p.close();
  });
  return Pool.open(devices, { coordinator });
}

async function bootstrap(): Promise<void> {
  const { base, cluster } = settings();
  const logger = createLogger(base.logLevel, 'admin-api');
  const stops: Array<[string, () => Promise<unknown>]> = [];
  const unwind = async (): Promise<boolean> => {
    let ok = true;
    for (const [name, stop] of stops.reverse()) {
      await stop().catch((err: unknown) => {
        ok = false;
        logger.error({ err, part: name }, 'stopping failed');
      });
    }
    stops.length = 0;
    return ok;
  };
  exitOnStopSignals(logger, unwind);
  try {
    await ensureHandleKey(cluster.handleKeyFile, logger);
    await fsp.mkdir(base.dataDir, { recursive: true, mode: 0o700 });
    const tokenFile = process.env.FERRY_ADMIN_TOKEN_FILE;
    const firstAdminToken = tokenFile ? (await fsp.readFile(tokenFile, 'utf8')).trim() : undefined;
    const ds = createDataSource({ url: cluster.databaseUrl });
    await ds.initialize();
    stops.push(['database', () => ds.destroy()]);
    await runMigrations(ds);
    const db = await pgPool(cluster.databaseUrl, { applicationName: 'ferry-admin' });
    stops.push(['database pool', () => db.end()]);

    const coordinator = new PgPoolCoordinator(cluster.databaseUrl);
    stops.push(['pool lock connection', () => coordinator.close()]);
    const pool = await openOrCreatePool(cluster.poolDevices, cluster.poolDeviceBytes, coordinator, logger);
    stops.push(['pool', () => pool.close()]);
    const mover = new MoverStorageHost({
      logger: logger.child({ component: 'storage' }),
      clock: nowTimespec,
      random: (n) => randomBytes(n),
    });
    mover.attach(pool);
    stops.push(['filesystems', () => mover.closeAll()]);
    let events: EventBus;
    let redis: IORedis | undefined;
    let maintenance: MaintenanceClient | undefined;
    if (cluster.redisUrl) {
      const bus = new RedisEventBus({ redisUrl: cluster.redisUrl });
      await bus.onModuleInit();
      stops.push(['event bus', () => bus.onApplicationShutdown()]);
      events = bus;
      // Scrub and fsck run on the filesystem's owner, asked over the bus (docs/cluster.md).
      maintenance = new MaintenanceClient({ events: bus, owner: (fsid) => servingOwner(db, fsid), ownerWaitMs: cluster.maintenanceWaitMs });
      const r = new IORedis(cluster.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await r.connect();
      redis = r;
      stops.push(['redis', () => r.quit()]);
    } else {
      events = new InProcessEventBus((topic, err) => logger.error({ err, topic }, 'event handler failed'));
    }
    const host = new ClusterStorageHost({ host: mover, pool, db, maintenance });
    const jobLog: JobLogger = { warn: (o, m) => logger.warn(o, m), error: (o, m) => logger.error(o, m) };
    const store = new TypeOrmJobStore(ds);
    const jobs: JobQueue = cluster.redisUrl
      ? new BullJobQueue(store, { redisUrl: cluster.redisUrl, lockDurationMs: 10_000, stalledIntervalMs: 5_000, logger: jobLog })
      : new InProcessJobQueue(store, { logger: jobLog });

    const controller = new PlacementController({
      db,
      connect: () => dedicatedConnection(cluster.databaseUrl),
      events,
      logger: logger.child({ component: 'controller' }),
    });
    const app = await NestFactory.create(
      ClusterRootModule.forRoot(
        {
          dataSource: ds,
          storageHost: host,
          jobs,
          events,
          dataDir: firstAdminToken === undefined ? base.dataDir : undefined,
          firstAdminToken,
          logger: logger.child({ component: 'admin' }),
          redis,
          version: VERSION,
        },
        {
          registry: new Registry(),
          isLeader: () => controller.isLeader,
          notReady: async () => {
            try {
              await db.query('SELECT 1');
            } catch (err) {
              return `database: ${(err as Error).message}`;
            }
            if (redis && redis.status !== 'ready') return `redis: ${redis.status}`;
            return undefined;
          },
        },
      ),
      { logger: new PinoNestLogger(logger), abortOnError: false, bodyParser: false },
    );
    setupAdminApp(app, VERSION);
    await app.init();
    stops.push(['admin API', () => app.close()]);

    for (const p of storageProcessors({ ds, host, events, moverId: () => undefined })) jobs.register(p);
    await jobs.start();
    stops.push(['jobs', () => jobs.close({ abandonRunning: true })]);

    controller.start();
    stops.push(['controller', () => controller.stop()]);

    if (base.bindAddress === '::') await app.listen(base.httpPort);
    else await app.listen(base.httpPort, base.bindAddress);
    logger.info({ httpPort: base.httpPort, redis: Boolean(cluster.redisUrl), devices: cluster.poolDevices }, 'cluster admin API on /api/v1; /api/v1/health, /metrics');
  } catch (err) {
    logger.error({ err }, 'start failed');
    await unwind();
    throw err;
  }
}

bootstrap().catch((err: unknown) => {
  process.stderr.write(`ferry: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
