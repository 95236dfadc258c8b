/**
 * The relay's worker thread: runs a `Relay` (client listener, upstream connections, hold,
 * replay, reroute) with a heap of its own, away from Nest (see relay-messages.ts for why).
 * The Nest thread keeps the route source, logging and HTTP; this file only bridges them.
 *
 * Invariants: the route table here is the last one the main thread sent (starting with the
 * one in workerData), swapped whole; `refresh()` resolves when the main thread's load is done,
 * after any table it produced has arrived (one port keeps the order). After 'close' the worker
 * reports 'closed' once the relay has drained; the main thread then ends it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Relay, type RelayLogger } from './relay';
import { cloneableLogObject, reviveError, routeTableOf, serializeError, type FromWorker, type LogLevel, type RelayWorkerData, type ToWorker } from './relay-messages';
import type { RouteSource, RouteTable } from './routes';

const port = parentPort;
if (port === null) throw new Error('relay-worker.ts runs only as a worker thread');
const data = workerData as RelayWorkerData;
const send = (m: FromWorker): void => port.postMessage(m);

/** The main thread's table, as a RouteSource for the relay. */
class WorkerRouteSource implements RouteSource {
  private table: RouteTable;
  private readonly listeners: Array<() => void> = [];
  private readonly refreshes = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextId = 1;
  /** Counted by the main thread's source (ferry_director_route_refreshes_total). */
  readonly refreshCount = 0;

  constructor(table: RouteTable) {
    this.table = table;
  }

  current(): RouteTable {
    return this.table;
  }

  set(table: RouteTable): void {
    this.table = table;
    for (const l of this.listeners) l();
  }

  refresh(reason: string): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.refreshes.set(id, { resolve, reject });
      send({ type: 'refresh', id, reason });
    });
  }

  refreshed(id: number, error: Error | undefined): void {
    const r = this.refreshes.get(id);
    if (!r) return;
    this.refreshes.delete(id);
    if (error) r.reject(error);
    else r.resolve();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const logAt =
  (level: LogLevel) =>
  (obj: object, msg: string): void => {
    if (data.levels[level]) send({ type: 'log', level, obj: cloneableLogObject(obj), msg });
  };
const logger: RelayLogger = { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') };

const routes = new WorkerRouteSource(routeTableOf(data.routes));
const relay = new Relay({
  routes,
  holdMs: data.holdMs,
  maxClientBytes: data.maxClientBytes,
  maxRecordBytes: data.maxRecordBytes,
  busyPollUs: data.busyPollUs,
  logger,
});

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'routes':
      routes.set(routeTableOf(m.routes));
      break;
    case 'refreshed':
      routes.refreshed(m.id, m.error ? reviveError(m.error) : undefined);
      break;
    case 'stats':
      send({ type: 'stats', id: m.id, stats: { ...relay.stats }, clients: relay.clientCount });
      break;
    case 'close':
      // A failed close is a bug: thrown, it ends the worker with an error, and the director exits non-zero.
      void relay.close().then(() => send({ type: 'closed' }));
      break;
  }
});

relay.listen(data.port, data.host).then(
  (a) => send({ type: 'listening', port: a.port }),
  (err: unknown) => send({ type: 'listen-failed', error: serializeError(err) }),
);
