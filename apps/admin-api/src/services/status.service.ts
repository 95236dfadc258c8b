import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { AuditLogEntity } from '@ferry/control';
import { ADMIN_DATA_SOURCE, ADMIN_OPTIONS, type AdminModuleOptions } from '../admin-options';
import { HEARTBEAT_HEALTHY_SECONDS } from './mover.service';
import { page, type Page } from './paging';

export interface StatusDoc {
  version: string;
  database: { ok: boolean; latencyMs: number | null; error?: string };
  redis: { configured: boolean; ok: boolean | null; error?: string };
  movers: { total: number; healthy: number };
  filesystems: { total: number; byState: Record<string, number> };
  jobs: { running: number; queued: number };
}

/** Versions and counts for `GET /status`, and the audit log for `GET /audit`. */
@Injectable()
export class StatusService {
  constructor(
    @Inject(ADMIN_DATA_SOURCE) private readonly ds: DataSource,
    @Inject(ADMIN_OPTIONS) private readonly options: AdminModuleOptions,
  ) {}

  async status(): Promise<StatusDoc> {
    const started = performance.now();
    const database: StatusDoc['database'] = { ok: false, latencyMs: null };
    try {
      await this.ds.query('SELECT 1');
      database.ok = true;
      database.latencyMs = Math.round((performance.now() - started) * 100) / 100;
    } catch (err) {
      database.error = (err as Error).message;
    }
    const redis: StatusDoc['redis'] = { configured: this.options.redis !== undefined, ok: null };
    if (this.options.redis) {
      try {
        await this.options.redis.ping();
        redis.ok = true;
      } catch (err) {
        redis.ok = false;
        redis.error = (err as Error).message;
      }
    }
    const movers = { total: 0, healthy: 0 };
    const filesystems = { total: 0, byState: {} as Record<string, number> };
    const jobs = { running: 0, queued: 0 };
    if (database.ok) {
      const [m] = await this.ds.query<Array<{ total: string; healthy: string }>>(
        `SELECT count(*) AS total, count(*) FILTER (WHERE last_heartbeat > now() - make_interval(secs => $1)) AS healthy FROM movers`,
        [HEARTBEAT_HEALTHY_SECONDS],
      );
      movers.total = Number(m!.total);
      movers.healthy = Number(m!.healthy);
      for (const r of await this.ds.query<Array<{ state: string; n: string }>>(`SELECT state, count(*) AS n FROM filesystems GROUP BY state`)) {
        filesystems.byState[r.state] = Number(r.n);
        filesystems.total += Number(r.n);
      }
      for (const r of await this.ds.query<Array<{ state: string; n: string }>>(
        `SELECT state, count(*) AS n FROM jobs WHERE state IN ('running', 'queued') GROUP BY state`,
      )) {
        if (r.state === 'running') jobs.running = Number(r.n);
        else jobs.queued = Number(r.n);
      }
    }
    return { version: this.options.version ?? ferryVersion(), database, redis, movers, filesystems, jobs };
  }

  async audit(limit: number, offset: number): Promise<Page<AuditLogEntity>> {
    const [rows, total] = await this.ds.getRepository(AuditLogEntity).findAndCount({
      order: { at: 'DESC', id: 'DESC' },
      take: limit,
      skip: offset,
    });
    return page(rows, total, limit, offset);
  }
}

/** The version in Ferry's package.json, found upwards from this file (source or dist). */
export function ferryVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ferry' && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      // not here: keep looking upwards
    }
    if (dirname(dir) === dir) return (cachedVersion = 'unknown');
  }
}
let cachedVersion: string | undefined;
