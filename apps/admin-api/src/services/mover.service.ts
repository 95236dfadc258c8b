import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { MoverEntity, notFound } from '@ferry/control';
import { ADMIN_DATA_SOURCE } from '../admin-options';
import type { AuditScope } from '../common/audit';
import { isUuid, page, type Page } from './paging';

/** A mover is healthy while its last heartbeat (database clock) is this recent. */
export const HEARTBEAT_HEALTHY_SECONDS = 10;

export interface MoverDoc {
  id: string;
  name: string;
  address: string;
  nfsPort: number;
  httpPort: number;
  state: string;
  healthy: boolean;
  lastHeartbeat: Date | null;
  filesystems: Array<{ id: string; name: string; fsid: number }>;
}

@Injectable()
export class MoverService {
  constructor(@Inject(ADMIN_DATA_SOURCE) private readonly ds: DataSource) {}

  async list(limit: number, offset: number): Promise<Page<MoverDoc>> {
    const [rows, total] = await this.ds.getRepository(MoverEntity).findAndCount({ order: { name: 'ASC' }, take: limit, skip: offset });
    return page(await this.docs(rows), total, limit, offset);
  }

  async get(id: string): Promise<MoverDoc> {
    const row = isUuid(id) ? await this.ds.getRepository(MoverEntity).findOneBy({ id }) : null;
    if (!row) throw notFound('mover', id);
    return (await this.docs([row]))[0]!;
  }

  /** Marks the mover draining: the controller moves its filesystems away and then marks it drained. */
  async drain(id: string, scope: AuditScope): Promise<MoverDoc> {
    scope.about(id);
    await this.ds.transaction(async (m) => {
      const row = isUuid(id) ? await m.findOne(MoverEntity, { where: { id }, lock: { mode: 'pessimistic_write' } }) : null;
      if (!row) throw notFound('mover', id);
      if (row.state === 'active') await m.update(MoverEntity, { id }, { state: 'draining' });
      await scope.record(m, row.name, { from: row.state });
    });
    return this.get(id);
  }

  private async docs(rows: MoverEntity[]): Promise<MoverDoc[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const healthy = new Set<string>(
      (
        await this.ds.query<Array<{ id: string }>>(
          `SELECT id FROM movers WHERE id = ANY($1::uuid[]) AND last_heartbeat > now() - make_interval(secs => $2)`,
          [ids, HEARTBEAT_HEALTHY_SECONDS],
        )
      ).map((r) => r.id),
    );
    // In a cluster the lease holder owns a filesystem; in the embedded start (no lease row) the
    // filesystem's own owner column does.
    const owned = (
      await this.ds.query<Array<{ id: string; name: string; fsid: string; owner: string }>>(
        `SELECT f.id, f.name, f.fsid::text AS fsid, COALESCE(l.owner_mover_id, CASE WHEN l.filesystem_id IS NULL THEN f.owner_mover_id END) AS owner
         FROM filesystems f LEFT JOIN fs_leases l ON l.filesystem_id = f.id
         WHERE COALESCE(l.owner_mover_id, CASE WHEN l.filesystem_id IS NULL THEN f.owner_mover_id END) = ANY($1::uuid[])
         ORDER BY f.name`,
        [ids],
      )
    ).map((f) => ({ id: f.id, name: f.name, fsid: Number(f.fsid), ownerMoverId: f.owner }));
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      address: r.address,
      nfsPort: r.nfsPort,
      httpPort: r.httpPort,
      state: r.state,
      healthy: healthy.has(r.id),
      lastHeartbeat: r.lastHeartbeat,
      filesystems: owned.filter((f) => f.ownerMoverId === r.id).map((f) => ({ id: f.id, name: f.name, fsid: f.fsid })),
    }));
  }
}
