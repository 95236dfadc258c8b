/**
 * Routes from the control plane's PostgreSQL (docs/director.md; the SQL is the cluster
 * contract's): the serving lease holders and the export paths.
 *
 * Invariants: at most one load runs at a time; a refresh asked for during a load starts one
 * more load after it (the change it reacts to may have committed after the running load read),
 * and every caller of refresh() waits for a load that started after its call. A failed load
 * keeps the previous table (a control-plane outage must not drop routes that still work: the
 * movers fence themselves when their leases lapse) and is retried at the next poll. Loads
 * happen on `routes.changed` and `exports.changed` events (Redis), on demand, and every pollMs.
 */
import { Pool } from 'pg';
import { EVENT_TOPICS } from '@ferry/control';
import { buildRouteTable, EMPTY_ROUTES, sameRoutes, type RouteSource, type RouteTable } from './routes';
import type { RelayLogger } from './relay';

/** The cluster contract's route query: serving, unexpired leases by the database clock. */
export const ROUTES_SQL =
  'SELECT l.fsid, m.address, m.nfs_port, l.epoch FROM fs_leases l JOIN movers m ON m.id = l.owner_mover_id WHERE l.serving AND l.expires_at > now()';
export const EXPORTS_SQL = 'SELECT e.path, f.fsid FROM exports e JOIN filesystems f ON f.id = e.filesystem_id';
export const ROUTES_CHANGED_TOPIC = 'routes.changed';

/** What PgRouteSource needs of the event bus (RedisEventBus of @ferry/control fits). */
export interface RouteEvents {
  subscribe(topic: string, handler: (payload: unknown) => void): void;
  connect?(): Promise<void>;
  close(): Promise<void>;
}

export interface PgRouteSourceOptions {
  databaseUrl: string;
  pollMs: number;
  logger: RelayLogger;
  events?: RouteEvents;
}

export class PgRouteSource implements RouteSource {
  private table: RouteTable = EMPTY_ROUTES;
  private readonly pool: Pool;
  private readonly listeners: Array<() => void> = [];
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Whether a load has succeeded (readiness). */
  loaded = false;
  refreshCount = 0;

  constructor(private readonly opts: PgRouteSourceOptions) {
    this.pool = new Pool({ connectionString: opts.databaseUrl, max: 2, application_name: 'ferry-director', connectionTimeoutMillis: 5000 });
    this.pool.on('error', (err) => opts.logger.warn({ err }, 'route database connection error'));
  }

  current(): RouteTable {
    return this.table;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  async start(): Promise<void> {
    if (this.opts.events) {
      this.opts.events.subscribe(ROUTES_CHANGED_TOPIC, () => void this.refresh('routes.changed event').catch(() => undefined));
      // Export paths are part of the table: a new export is routable without waiting for a poll.
      this.opts.events.subscribe(EVENT_TOPICS.exportsChanged, () => void this.refresh('exports.changed event').catch(() => undefined));
      await this.opts.events.connect?.();
    }
    // The first load may fail (database still starting): the poll retries, /readyz says so.
    await this.refresh('start').catch((err: unknown) => this.opts.logger.warn({ err }, 'first route load failed; retrying every poll'));
    this.timer = setInterval(() => void this.refresh('poll').catch(() => undefined), this.opts.pollMs);
    this.timer.unref();
  }

  refresh(reason: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running === undefined) {
      this.running = this.load(reason).finally(() => (this.running = undefined));
      return this.running;
    }
    // A load is running: one more follows it, shared by everyone who asks meanwhile.
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.refresh(reason);
      });
    return this.queued;
  }

  private async load(reason: string): Promise<void> {
    let routes, exportRows;
    try {
      [routes, exportRows] = await Promise.all([
        this.pool.query<{ fsid: string; address: string; nfs_port: number }>(ROUTES_SQL),
        this.pool.query<{ path: string; fsid: string }>(EXPORTS_SQL),
      ]);
    } catch (err) {
      this.opts.logger.warn({ err, reason }, 'route load failed: keeping the previous routes');
      throw err;
    }
    this.refreshCount++;
    this.loaded = true;
    const next = buildRouteTable(
      routes.rows.map((r) => [BigInt(r.fsid), { host: r.address, port: r.nfs_port }] as [bigint, { host: string; port: number }]),
      exportRows.rows.map((r) => [r.path, BigInt(r.fsid)] as [string, bigint]),
    );
    if (sameRoutes(this.table, next)) return;
    this.table = next;
    this.opts.logger.info({ reason, filesystems: next.owners.size, movers: next.movers.map((m) => m.key) }, 'routes changed');
    for (const l of this.listeners) l();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
    await this.opts.events?.close();
    await this.pool.end();
  }
}
