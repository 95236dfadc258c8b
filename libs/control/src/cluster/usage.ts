/**
 * Filesystem usage in a cluster, as the admin-api reads it (docs/cluster.md, "Usage"). Only the
 * owning mover can measure a filesystem (statfs of its open engine); it writes the figures to
 * `fs_usage` with its lease renewals (LeaseStore.tick). Everything here is judged on the database
 * clock, like the leases:
 *
 * - current: measured by the mover that holds the serving, unexpired lease, under that lease's
 *   epoch, and not past the freshness its owner gave it (a few of its report intervals). Only a
 *   current figure is shown as the filesystem's usage.
 * - last known: anything else (the filesystem moved, its owner died or stopped reporting, it is
 *   being checked offline). Kept in the table, returned with `current: false`, never shown as
 *   current.
 */
import type { FsUsage } from '../storage-host';
import type { Queryable } from './lease-store';

export interface ReportedUsage extends FsUsage {
  /** When the owner measured it (database clock, ISO 8601). */
  measuredAt: string;
  /** How old the figure is, in milliseconds, at the time of the read (database clock). */
  ageMs: number;
  /** The mover that measured it (null when its row is gone) and the lease epoch it held. */
  moverId: string | null;
  epoch: string;
  /** See above: true only for a fresh figure from the current serving owner. */
  current: boolean;
}

/** The last figure reported for the filesystem `fsid`, judged current or not; undefined if none. */
export async function reportedUsage(db: Queryable, fsid: bigint): Promise<ReportedUsage | undefined> {
  return (await reportedUsages(db, [fsid])).get(fsid);
}

/** reportedUsage of several filesystems in one query (a page of GET /filesystems): fsid → figure. */
export async function reportedUsages(db: Queryable, fsids: readonly bigint[]): Promise<Map<bigint, ReportedUsage>> {
  const out = new Map<bigint, ReportedUsage>();
  if (fsids.length === 0) return out;
  const rows = await db.query(
    `SELECT f.fsid::text AS fsid, u.size_bytes::text AS size_bytes, u.used_bytes::text AS used_bytes, u.free_bytes::text AS free_bytes,
            u.files::text AS files, u.free_files::text AS free_files, u.mover_id, u.epoch::text AS epoch,
            to_json(u.measured_at) #>> '{}' AS measured_at,
            GREATEST(0, round(extract(epoch FROM now() - u.measured_at) * 1000))::bigint::text AS age_ms,
            COALESCE(u.fresh_until >= now() AND l.serving AND l.expires_at > now()
                     AND l.owner_mover_id = u.mover_id AND l.epoch = u.epoch, false) AS current
     FROM fs_usage u JOIN filesystems f ON f.id = u.filesystem_id
     LEFT JOIN fs_leases l ON l.filesystem_id = u.filesystem_id
     WHERE f.fsid = ANY($1::bigint[])`,
    [fsids.map(String)],
  );
  for (const r of rows) out.set(BigInt(r.fsid as string), usageOfRow(r));
  return out;
}

function usageOfRow(r: Record<string, unknown>): ReportedUsage {
  return {
    sizeBytes: Number(r.size_bytes),
    usedBytes: Number(r.used_bytes),
    freeBytes: Number(r.free_bytes),
    files: Number(r.files),
    freeFiles: Number(r.free_files),
    measuredAt: new Date(r.measured_at as string).toISOString(),
    ageMs: Number(r.age_ms),
    moverId: (r.mover_id as string | null) ?? null,
    epoch: r.epoch as string,
    current: r.current === true,
  };
}
