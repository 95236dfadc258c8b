import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ConfigError, createLogger, exitOnStopSignals, loadMoverConfig } from '@ferry/platform';
import { AppModule } from './app.module';
import { PinoNestLogger } from './pino-nest-logger';

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadMoverConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferry: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, 'data-mover');
  const app = await NestFactory.create(AppModule.forRoot(config, logger), { logger: new PinoNestLogger(logger), abortOnError: false });
  // SIGTERM/SIGINT: stop accepting, finish in-flight calls, flush data, then exit 0.
  exitOnStopSignals(logger, () => app.close().then(() => true));
  if (config.bindAddress === '::') await app.listen(config.httpPort);
  else await app.listen(config.httpPort, config.bindAddress);
  logger.info({ httpPort: config.httpPort }, 'http endpoints listening (/healthz, /readyz, /metrics)');
}

bootstrap().catch((err: unknown) => {
  process.stderr.write(`ferry: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
