/**
 * The placement controller: one active at a time in a cluster (whoever holds the session-level
 * advisory lock CONTROLLER_LOCK_KEY on its own connection; when that process dies its connection
 * closes and another admin-api takes over within a tick). Each tick:
 *
 * 1. gives every ready filesystem a lease row;
 * 2. reads movers (healthy = heartbeat younger than `moverStaleMs`, database clock) and leases;
 * 3. applies `place()` with compare-and-set updates (an assignment changed meanwhile is left for
 *    the next tick), marks emptied draining movers drained;
 * 4. publishes `leases.assigned` so movers act at once instead of at their next poll.
 *
 * The controller never touches owner, epoch or deadline: movers move leases (lease-store.ts).
 */
import type { EventBus } from '../events';
import type { Queryable } from './lease-store';
import { place, type LeaseView, type MoverView, type Placement } from './placement';

/** "ferryctl" as an int64. */
export const CONTROLLER_LOCK_KEY = '7378413944419789932';

export const CLUSTER_TOPICS = {
  leasesAssigned: 'leases.assigned',
  leasesReleased: 'leases.released',
  routesChanged: 'routes.changed',
} as const;

export interface DedicatedConnection extends Queryable {
  release(): Promise<void>;
}

export interface ControllerLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

export interface PlacementControllerOptions {
  db: Queryable;
  /** A connection of its own for the leadership lock (held for as long as it stays open). */
  connect: () => Promise<DedicatedConnection>;
  events?: EventBus;
  logger: ControllerLogger;
  tickMs?: number;
  moverStaleMs?: number;
}

export class PlacementController {
  private lockConn?: DedicatedConnection;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private readonly tickMs: number;
  private readonly staleMs: number;

  constructor(private readonly opts: PlacementControllerOptions) {
    this.tickMs = opts.tickMs ?? 500;
    this.staleMs = opts.moverStaleMs ?? 2000;
  }

  get isLeader(): boolean {
    return this.lockConn !== undefined;
  }

  start(): void {
    const loop = (): void => {
      if (this.stopped) return;
      this.running = this.tickSafely().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.tickMs);
      });
    };
    this.opts.events?.subscribe(CLUSTER_TOPICS.routesChanged, () => this.poke());
    loop();
  }

  /** Runs a tick soon (a mover joined or a lease moved). */
  poke(): void {
    if (this.stopped || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.tickSafely().finally(() => {
        if (!this.stopped && !this.timer) this.timer = setTimeout(() => this.poke(), this.tickMs);
      });
    }, 20);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    await this.lockConn?.release().catch(() => undefined);
    this.lockConn = undefined;
  }

  private async tickSafely(): Promise<void> {
    try {
      await this.tick();
    } catch (err) {
      this.opts.logger.warn({ err }, 'placement tick failed (retried next tick)');
      // A broken lock connection means leadership is gone: let go and try again.
      await this.lockConn?.release().catch(() => undefined);
      this.lockConn = undefined;
    }
  }

  /** One tick if this process leads (else tries to become leader); exposed for tests. */
  async tick(): Promise<Placement | undefined> {
    if (!(await this.lead())) return undefined;
    const db = this.opts.db;
    await db.query(`INSERT INTO fs_leases (filesystem_id, fsid) SELECT id, fsid FROM filesystems WHERE state = 'ready' ON CONFLICT DO NOTHING`);
    const movers: MoverView[] = (
      await db.query(
        `SELECT id, name, state, (last_heartbeat IS NOT NULL AND last_heartbeat > now() - $1 * interval '1 millisecond') AS healthy FROM movers`,
        [this.staleMs],
      )
    ).map((r: { id: string; name: string; state: string; healthy: boolean }) => ({ id: r.id, name: r.name, state: r.state, healthy: r.healthy }));
    const leases: LeaseView[] = (
      await db.query(
        `SELECT l.fsid::text AS fsid, l.assigned_mover_id, l.owner_mover_id, l.serving
         FROM fs_leases l JOIN filesystems f ON f.id = l.filesystem_id WHERE f.state = 'ready'`,
      )
    ).map((r: { fsid: string; assigned_mover_id: string | null; owner_mover_id: string | null; serving: boolean }) => ({
      fsid: BigInt(r.fsid),
      assignedMoverId: r.assigned_mover_id,
      ownerMoverId: r.owner_mover_id,
      serving: r.serving,
    }));
    const plan = place(movers, leases);
    const names = new Map(movers.map((m) => [m.id, m.name]));
    const applied: string[] = [];
    for (const c of plan.changes) {
      const rows = await db.query(
        `UPDATE fs_leases SET assigned_mover_id = $2, updated_at = now() WHERE fsid = $1 AND assigned_mover_id IS NOT DISTINCT FROM $3 RETURNING fsid`,
        [c.fsid.toString(), c.to, c.from],
      );
      if (rows.length === 1) {
        applied.push(c.fsid.toString());
        this.opts.logger.info({ fsid: c.fsid.toString(), from: c.from && names.get(c.from), to: names.get(c.to), reason: c.reason }, 'filesystem assigned');
      }
    }
    if (plan.drained.length) {
      const rows = await db.query(`UPDATE movers SET state = 'drained', updated_at = now() WHERE id = ANY($1::uuid[]) AND state = 'draining' RETURNING name`, [plan.drained]);
      for (const r of rows as Array<{ name: string }>) this.opts.logger.info({ mover: r.name }, 'mover drained');
    }
    if (applied.length) await this.opts.events?.publish(CLUSTER_TOPICS.leasesAssigned, { fsids: applied }).catch(() => undefined);
    return plan;
  }

  private async lead(): Promise<boolean> {
    if (this.lockConn) return true;
    const conn = await this.opts.connect();
    try {
      const rows = await conn.query(`SELECT pg_try_advisory_lock($1::bigint) AS locked`, [CONTROLLER_LOCK_KEY]);
      if (rows[0]?.locked === true) {
        this.lockConn = conn;
        this.opts.logger.info({}, 'this process is the placement controller');
        return true;
      }
    } catch (err) {
      await conn.release().catch(() => undefined);
      throw err;
    }
    await conn.release();
    return false;
  }
}

/** A connection outside any pool (pg.Client), closed on release, so a lock dies with it. */
export async function dedicatedConnection(url: string, applicationName = 'ferry-controller'): Promise<DedicatedConnection> {
  const { Client } = await import('pg');
  const client = new Client({ connectionString: url, application_name: applicationName });
  client.on('error', () => undefined); // surfaces as a failed query on the next tick
  await client.connect();
  return {
    query: async (sql: string, params?: unknown[]) => (await client.query(sql, params as unknown[])).rows,
    release: () => client.end(),
  };
}

/** "ferrypol" as an int64: the lock of a shared pool's slice allocation. */
export const POOL_LOCK_KEY = '7378413944486915948';

/**
 * The PoolCoordinator (libs/pool) of a cluster: a session advisory lock on a connection of its
 * own, kept open between uses (a take-over should not pay for a new connection), so a process
 * that dies mid-allocation frees the lock with its connection. One holder at a time inside the
 * process too (the lock is re-entrant per session, so calls are queued here). A connection that
 * fails is dropped (its lock goes with it) and the next use opens a new one.
 */
export class PgPoolCoordinator {
  private conn?: Promise<DedicatedConnection>;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly url: string) {}

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => this.locked(fn));
    this.tail = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.tail;
    const c = this.conn;
    this.conn = undefined;
    await (await c?.catch(() => undefined))?.release().catch(() => undefined);
  }

  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    let conn: DedicatedConnection | undefined;
    // Nothing has been done before the lock is held: a connection found broken (the server
    // restarted, or ended the session) is replaced once, transparently.
    for (let attempt = 0; conn === undefined; attempt++) {
      this.conn ??= dedicatedConnection(this.url, 'ferry-pool-lock');
      try {
        const c = await this.conn;
        await c.query(`SELECT pg_advisory_lock($1::bigint)`, [POOL_LOCK_KEY]);
        conn = c;
      } catch (err) {
        await this.drop();
        if (attempt > 0) throw err;
      }
    }
    try {
      return await fn();
    } finally {
      try {
        await conn.query(`SELECT pg_advisory_unlock($1::bigint)`, [POOL_LOCK_KEY]);
      } catch {
        await this.drop(); // closing the session frees the lock
      }
    }
  }

  private async drop(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    await (await c?.catch(() => undefined))?.release().catch(() => undefined);
  }
}
