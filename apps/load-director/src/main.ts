import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ConfigError, createLogger, exitOnStopSignals, loadDirectorConfig, type DirectorConfig } from '@ferry/platform';
import { DirectorModule } from './app.module';
import { PinoNestLogger } from '../../data-mover/src/pino-nest-logger';
import { parseStaticRoutes } from './routes';

async function bootstrap(): Promise<void> {
  let config: DirectorConfig;
  try {
    config = loadDirectorConfig();
    // The static table's syntax is the director's: checked here so a typo stops the start.
    if (config.staticRoutes !== undefined) {
      try {
        parseStaticRoutes(config.staticRoutes);
      } catch (err) {
        throw new ConfigError((err as Error).message);
      }
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferry: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, 'load-director');
  const app = await NestFactory.create(DirectorModule.forRoot(config, logger), { logger: new PinoNestLogger(logger), abortOnError: false });
  // SIGTERM/SIGINT: stop accepting, let in-flight calls finish (bounded), then exit 0.
  exitOnStopSignals(logger, () => app.close().then(() => true));
  if (config.bindAddress === '::') await app.listen(config.httpPort);
  else await app.listen(config.httpPort, config.bindAddress);
  logger.info({ httpPort: config.httpPort }, 'http endpoints listening (/healthz, /readyz, /metrics)');
}

bootstrap().catch((err: unknown) => {
  process.stderr.write(`ferry: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
