/**
 * A data mover of a Ferry cluster (docs/cluster.md). Settings: the mover's (FERRY_NFS_PORT,
 * FERRY_HTTP_PORT, FERRY_DIRECTOR_NETWORKS, ...) plus the cluster's (DATABASE_URL, REDIS_URL,
 * FERRY_MOVER_NAME, FERRY_POOL_DEVICES, FERRY_HANDLE_KEY_FILE, FERRY_ADVERTISE_ADDRESS,
 * FERRY_LEASE_MS). SIGTERM hands every filesystem over (flush, release) before exiting.
 */
// Before anything touches libuv's thread pool: a mover serves several filesystems, and with the
// default 4 threads one filesystem's large writes would hold up another's log writes. (Fencing
// does not depend on it: writes are checked in the pool thread, cluster/fenced-space.ts.)
process.env.UV_THREADPOOL_SIZE ??= '64';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ConfigError, createLogger, exitOnStopSignals, loadMoverConfig } from '@ferry/platform';
import { PinoNestLogger } from './pino-nest-logger';
import { loadClusterMoverConfig } from './cluster/cluster-config';
import { ClusterMoverModule } from './cluster/cluster.module';

async function bootstrap(): Promise<void> {
  let config;
  let cluster;
  try {
    config = loadMoverConfig();
    cluster = loadClusterMoverConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferry: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, 'data-mover').child({ mover: cluster.moverName });
  const app = await NestFactory.create(ClusterMoverModule.forRoot(config, cluster, logger), { logger: new PinoNestLogger(logger), abortOnError: false });
  exitOnStopSignals(logger, () => app.close().then(() => true));
  if (config.bindAddress === '::') await app.listen(config.httpPort);
  else await app.listen(config.httpPort, config.bindAddress);
  logger.info({ httpPort: config.httpPort }, 'http endpoints listening (/healthz, /readyz, /metrics)');
}

bootstrap().catch((err: unknown) => {
  process.stderr.write(`ferry: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
