/**
 * The Nest thread's side of the relay worker (relay-worker.ts): starts it, sends it each new
 * route table, answers its route refreshes, writes its log lines with the main logger, and
 * fetches its counters for /metrics and /readyz.
 *
 * Invariants: `stats` is the last snapshot the worker sent (counters only grow between
 * snapshots); the worker exists from start() until close() resolved; if it ends any other way
 * `onDeath` is called (the director then exits non-zero: an HTTP endpoint with no relay
 * behind it must not look alive).
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from '@ferry/platform';
import { RelayStats } from './relay';
import { reviveError, revivedLogObject, routeTableMessage, serializeError, type FromWorker, type RelayWorkerData, type ToWorker } from './relay-messages';
import type { RouteSource } from './routes';

export interface RelayHostOptions {
  routes: RouteSource;
  holdMs: number;
  maxClientBytes: number;
  maxRecordBytes: number;
  busyPollUs: number;
  /** The relay's log lines go here (the worker sends them). */
  logger: Logger;
  /** The worker ended without close(): an error, or its exit code. */
  onDeath: (why: { err?: unknown; code?: number }) => void;
}

/** How long a scrape waits for fresh counters before it uses the last snapshot. */
const STATS_WAIT_MS = 1000;

export class RelayHost {
  /** The worker's counters as of its last snapshot. */
  readonly stats = new RelayStats();
  clientCount = 0;
  private worker: Worker | undefined;
  private closing = false;
  private nextStatsId = 1;
  private readonly statsWaiters = new Map<number, () => void>();
  private closed: (() => void) | undefined;

  constructor(private readonly opts: RelayHostOptions) {
    opts.routes.onChange(() => this.post({ type: 'routes', routes: routeTableMessage(opts.routes.current()) }));
  }

  /** Starts the worker and resolves once its client listener is bound. */
  listen(port: number, host: string): Promise<{ port: number }> {
    const logger = this.opts.logger;
    const data: RelayWorkerData = {
      holdMs: this.opts.holdMs,
      maxClientBytes: this.opts.maxClientBytes,
      maxRecordBytes: this.opts.maxRecordBytes,
      busyPollUs: this.opts.busyPollUs,
      port,
      host,
      routes: routeTableMessage(this.opts.routes.current()),
      levels: { debug: logger.isLevelEnabled('debug'), info: logger.isLevelEnabled('info'), warn: logger.isLevelEnabled('warn'), error: logger.isLevelEnabled('error') },
    };
    // The built output is CommonJS: the worker is the .js next to this file.
    const worker = new Worker(path.join(__dirname, 'relay-worker.js'), { workerData: data, name: 'relay' });
    this.worker = worker;
    return new Promise((resolve, reject) => {
      let bound = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'listening':
            bound = true;
            resolve({ port: m.port });
            break;
          case 'listen-failed':
            this.closing = true;
            void worker.terminate();
            reject(reviveError(m.error));
            break;
          case 'log':
            logger[m.level](revivedLogObject(m.obj), m.msg);
            break;
          case 'refresh':
            this.opts.routes.refresh(m.reason).then(
              () => this.post({ type: 'refreshed', id: m.id }),
              (err: unknown) => this.post({ type: 'refreshed', id: m.id, error: serializeError(err) }),
            );
            break;
          case 'stats':
            Object.assign(this.stats, m.stats);
            this.clientCount = m.clients;
            this.statsWaiters.get(m.id)?.();
            this.statsWaiters.delete(m.id);
            break;
          case 'closed':
            this.closed?.();
            break;
        }
      });
      worker.on('error', (err) => {
        if (!bound) reject(err);
        if (this.closing) logger.error({ err }, 'relay worker failed while closing');
        else this.opts.onDeath({ err });
      });
      worker.on('exit', (code) => {
        this.worker = undefined;
        for (const w of this.statsWaiters.values()) w();
        this.statsWaiters.clear();
        this.closed?.();
        if (!bound) reject(new Error(`relay worker exited with code ${code} before listening`));
        if (!this.closing) this.opts.onDeath({ code });
      });
    });
  }

  /** Fresh counters from the worker (the last snapshot if it does not answer in time). */
  refreshStats(): Promise<void> {
    if (!this.worker) return Promise.resolve();
    const id = this.nextStatsId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.statsWaiters.delete(id);
        resolve();
      }, STATS_WAIT_MS);
      this.statsWaiters.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ type: 'stats', id });
    });
  }

  /** The relay's close (stop accepting, let pending calls finish, end), then the worker's end. */
  close(): Promise<void> {
    const worker = this.worker;
    this.closing = true;
    if (!worker) return Promise.resolve();
    return new Promise((resolve) => {
      const exited = new Promise<void>((r) => worker.once('exit', () => r()));
      // The relay has drained: end the thread rather than wait for its loop to empty.
      this.closed = () => {
        this.closed = undefined;
        void worker.terminate();
        void exited.then(resolve);
      };
      this.post({ type: 'close' });
    });
  }

  private post(m: ToWorker): void {
    this.worker?.postMessage(m);
  }
}
