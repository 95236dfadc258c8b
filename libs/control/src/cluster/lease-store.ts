/**
 * LeaseStore: the SQL of filesystem ownership (docs/cluster.md, "Leases"). PostgreSQL's clock is
 * the only clock that decides; each statement's WHERE clause is a rule of the protocol:
 *
 * - acquire: only the assigned mover, only when nobody holds the lease or it expired more than
 *   `graceMs` ago (database clock), and it bumps the epoch. So two holders never overlap: the old
 *   holder's own deadline (its monotonic clock, from the moment it sent its last renewal) is at or
 *   before the database's `expires_at`, and the grace covers a device write issued just before it.
 * - renew: every lease the mover holds, whether or not it expired; a holder that finds its epoch
 *   changed (someone acquired in between) has lost the filesystem and must drop it unwritten.
 *   A mover process names the leases (fsid and epoch) it acquired itself: a process restarted
 *   under the same name (same mover id) must not keep its dead predecessor's leases alive, or
 *   nobody could ever take them (they would never expire) while nobody serves them.
 * - release (a planned move): only the holder of that epoch; the lease is free at once, so the
 *   next owner does not wait out a deadline.
 * - serving: only the holder of that epoch; directors route to serving, unexpired leases only.
 *
 * - usage (docs/cluster.md, "Usage"): the holder's statfs figures ride on its renewal, in the same
 *   statement, and are written only for a lease it holds under that epoch, so a fenced former
 *   owner can never overwrite the figures of the new one.
 *
 * Epochs and fsids are bigints (int8 in SQL, sent and read as decimal strings).
 */
import type { FsUsage } from '../storage-host';

export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<any>;
}

export interface MoverRegistration {
  name: string;
  address: string;
  nfsPort: number;
  httpPort: number;
}

export interface HeldLease {
  fsid: bigint;
  epoch: bigint;
}

export interface Assignment {
  fsid: bigint;
  filesystemId: string;
  /** Holder right now (null: free). */
  ownerMoverId: string | null;
  epoch: bigint;
  /** The holder's lease ran out (database clock, grace included): it may be taken. */
  takeable: boolean;
}

/** One filesystem's statfs figures, as the mover serving it under `epoch` measured them. */
export interface UsageReport {
  fsid: bigint;
  epoch: bigint;
  usage: FsUsage;
  /** How long ago (mover's clock) the figures were measured; the row's time is now() minus this. */
  ageMs: number;
}

export interface UsageReports {
  reports: UsageReport[];
  /** How long after its measurement a figure still counts as current (its next report is due well before). */
  freshMs: number;
}

export interface TickResult {
  /** Leases this mover holds, renewed by this tick (epoch as in the database). */
  held: HeldLease[];
  /** Filesystems the controller assigned to this mover (ready ones only). */
  assigned: Assignment[];
  /** The mover's own state (active, draining, drained); undefined if its row is gone. */
  moverState: string | undefined;
}

export interface LeaseStoreOptions {
  leaseMs: number;
  /** Extra wait past an expired lease before another mover may take it (default 250 ms). */
  graceMs?: number;
}

export class LeaseStore {
  readonly leaseMs: number;
  readonly graceMs: number;

  constructor(
    private readonly db: Queryable,
    opts: LeaseStoreOptions,
  ) {
    if (!Number.isSafeInteger(opts.leaseMs) || opts.leaseMs < 100) throw new Error(`lease duration must be at least 100 ms, not ${opts.leaseMs}`);
    this.leaseMs = opts.leaseMs;
    this.graceMs = opts.graceMs ?? 250;
  }

  /** Inserts or refreshes the mover's row (by name) and returns its id; it is active again. */
  async registerMover(r: MoverRegistration): Promise<string> {
    const rows = await this.db.query(
      `INSERT INTO movers (name, address, nfs_port, http_port, state, last_heartbeat)
       VALUES ($1, $2, $3, $4, 'active', now())
       ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address, nfs_port = EXCLUDED.nfs_port,
         http_port = EXCLUDED.http_port, state = 'active', last_heartbeat = now(), updated_at = now()
       RETURNING id`,
      [r.name, r.address, r.nfsPort, r.httpPort],
    );
    return rows[0].id as string;
  }

  /**
   * One heartbeat: the mover's last_heartbeat, the leases it holds renewed to now() + leaseMs,
   * and its assignments. The caller starts its deadline clock before calling. `mine` lists the
   * leases this process acquired (fsid and epoch): only those are renewed, and `held` reports
   * those still ours. Without it, every lease of the mover id is renewed (tests, tools).
   */
  async tick(moverId: string, mine?: HeldLease[], usage?: UsageReports): Promise<TickResult> {
    // A figure that is not a count is left out rather than fail the renewal it rides on.
    const reports = (usage?.reports ?? []).filter(isCount);
    const col = (f: (r: UsageReport) => number | bigint): string[] => reports.map((r) => String(f(r)));
    // The usage upsert reads fs_leases as it was before this statement's renewal (one snapshot),
    // which is what the epoch check needs: the lease is this mover's under that very epoch.
    const [beat] = await this.db.query(
      `WITH hb AS (UPDATE movers SET last_heartbeat = now() WHERE id = $1 RETURNING state),
            r AS (UPDATE fs_leases SET expires_at = now() + $2 * interval '1 millisecond'
                  WHERE owner_mover_id = $1
                    AND ($3::boolean OR (fsid, epoch) IN (SELECT * FROM unnest($4::bigint[], $5::bigint[])))
                  RETURNING fsid, epoch),
            u AS (INSERT INTO fs_usage AS cur (filesystem_id, mover_id, epoch, size_bytes, used_bytes, free_bytes, files, free_files, measured_at, fresh_until)
                  SELECT l.filesystem_id, $1, l.epoch, x.size, x.used, x.free, x.files, x.free_files,
                         now() - x.age_ms * interval '1 millisecond', now() + ($6 - x.age_ms) * interval '1 millisecond'
                  FROM unnest($7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[])
                         AS x(fsid, epoch, size, used, free, files, free_files, age_ms)
                  JOIN fs_leases l ON l.fsid = x.fsid AND l.epoch = x.epoch AND l.owner_mover_id = $1
                  ON CONFLICT (filesystem_id) DO UPDATE SET mover_id = EXCLUDED.mover_id, epoch = EXCLUDED.epoch,
                    size_bytes = EXCLUDED.size_bytes, used_bytes = EXCLUDED.used_bytes, free_bytes = EXCLUDED.free_bytes,
                    files = EXCLUDED.files, free_files = EXCLUDED.free_files, measured_at = EXCLUDED.measured_at, fresh_until = EXCLUDED.fresh_until
                  WHERE cur.epoch <= EXCLUDED.epoch
                  RETURNING 1)
       SELECT (SELECT state FROM hb) AS mover_state,
              (SELECT json_agg(json_build_object('fsid', fsid::text, 'epoch', epoch::text)) FROM r) AS held,
              (SELECT count(*) FROM u) AS usage_written`,
      [
        moverId,
        this.leaseMs,
        mine === undefined,
        (mine ?? []).map((h) => h.fsid.toString()),
        (mine ?? []).map((h) => h.epoch.toString()),
        Math.max(0, Math.round(usage?.freshMs ?? 0)), // int8 in SQL: a fraction would fail the renewal
        col((r) => r.fsid),
        col((r) => r.epoch),
        col((r) => r.usage.sizeBytes),
        col((r) => r.usage.usedBytes),
        col((r) => r.usage.freeBytes),
        col((r) => r.usage.files),
        col((r) => r.usage.freeFiles),
        col((r) => Math.round(r.ageMs)),
      ],
    );
    const moverState: string | undefined = beat.mover_state ?? undefined;
    const held: HeldLease[] = ((beat.held ?? []) as Array<{ fsid: string; epoch: string }>).map((r) => ({ fsid: BigInt(r.fsid), epoch: BigInt(r.epoch) }));
    const rows = await this.db.query(
      `SELECT l.fsid::text AS fsid, l.filesystem_id, l.owner_mover_id, l.epoch::text AS epoch,
              (l.owner_mover_id IS NULL OR l.expires_at IS NULL
               OR l.expires_at < now() - $2 * interval '1 millisecond') AS takeable
       FROM fs_leases l JOIN filesystems f ON f.id = l.filesystem_id
       WHERE l.assigned_mover_id = $1 AND f.state = 'ready'
       ORDER BY l.fsid`,
      [moverId, this.graceMs],
    );
    const assigned = rows.map((r: { fsid: string; filesystem_id: string; owner_mover_id: string | null; epoch: string; takeable: boolean }) => ({
      fsid: BigInt(r.fsid),
      filesystemId: r.filesystem_id,
      ownerMoverId: r.owner_mover_id,
      epoch: BigInt(r.epoch),
      takeable: r.takeable,
    }));
    return { held, assigned, moverState };
  }

  /** Takes the lease of `fsid` (see the rules above); the new epoch, or undefined if refused. */
  async acquire(moverId: string, fsid: bigint): Promise<bigint | undefined> {
    const rows = await this.db.query(
      `UPDATE fs_leases SET owner_mover_id = $2, epoch = epoch + 1, serving = false,
         expires_at = now() + $3 * interval '1 millisecond', updated_at = now()
       WHERE fsid = $1 AND assigned_mover_id = $2
         AND (owner_mover_id IS NULL OR expires_at IS NULL OR expires_at < now() - $4 * interval '1 millisecond')
       RETURNING epoch::text AS epoch`,
      [fsid.toString(), moverId, this.leaseMs, this.graceMs],
    );
    return rows.length ? BigInt(rows[0].epoch) : undefined;
  }

  /** Marks the lease serving (or not) for directors; false when the epoch is no longer ours. */
  async setServing(moverId: string, fsid: bigint, epoch: bigint, serving: boolean): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE fs_leases SET serving = $4, updated_at = now()
       WHERE fsid = $1 AND owner_mover_id = $2 AND epoch = $3 RETURNING fsid`,
      [fsid.toString(), moverId, epoch.toString(), serving],
    );
    return rows.length === 1;
  }

  /** Gives the lease up at once (after a flush); false when the epoch is no longer ours. */
  async release(moverId: string, fsid: bigint, epoch: bigint): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE fs_leases SET owner_mover_id = NULL, serving = false, expires_at = NULL, updated_at = now()
       WHERE fsid = $1 AND owner_mover_id = $2 AND epoch = $3 RETURNING fsid`,
      [fsid.toString(), moverId, epoch.toString()],
    );
    return rows.length === 1;
  }
}

function isCount(r: UsageReport): boolean {
  const u = r.usage;
  return [u.sizeBytes, u.usedBytes, u.freeBytes, u.files, u.freeFiles].every((v) => Number.isSafeInteger(v) && v >= 0) && Number.isFinite(r.ageMs) && r.ageMs >= 0;
}

/**
 * A Queryable over a pg connection pool of its own (rows, always: TypeORM's DataSource.query
 * answers UPDATE ... RETURNING with [rows, count], so lease code does not go through it).
 */
export async function pgPool(url: string, opts: { max?: number; applicationName?: string } = {}): Promise<Queryable & { end(): Promise<void> }> {
  const { Pool } = await import('pg');
  const pool = new Pool({ connectionString: url, max: opts.max ?? 4, application_name: opts.applicationName ?? 'ferry-leases' });
  pool.on('error', () => undefined); // an idle client's error: the next query reports it
  return {
    query: async (sql: string, params?: unknown[]) => (await pool.query(sql, params as unknown[])).rows,
    end: () => pool.end(),
  };
}
