import type { Logger } from 'pino';

/**
 * SIGTERM/SIGINT: run `stop` once (finish in-flight work, flush, release), then exit 0 when it
 * answers true (a clean stop is not a failure for supervisors) and 1 otherwise. A second signal
 * while stopping exits at once with 1.
 */
export function exitOnStopSignals(logger: Logger, stop: () => Promise<boolean>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal while stopping: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    stop().then(
      (ok) => process.exit(ok ? 0 : 1),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
