import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import {
  conflict,
  ControlError,
  ControlErrorCode,
  EVENT_TOPICS,
  ExportEntity,
  FilesystemEntity,
  JobEntity,
  nextFsid,
  notFound,
  PG_UNIQUE_VIOLATION,
  PoolEntity,
  refused,
  sqlState,
  type FsUsage,
  type StorageHost,
} from '@ferry/control';
import { ADMIN_DATA_SOURCE, ADMIN_OPTIONS, type AdminModuleOptions } from '../admin-options';
import type { AuditScope } from '../common/audit';
import type { CreateFilesystemDto } from '../dto/filesystem.dto';
import { filesystemDoc, jobDoc, type FilesystemDoc, type JobDoc } from './docs';
import { isUuid, page, type Page } from './paging';

/** The job type that formats a new filesystem (params: FormatJobParams). */
export const FORMAT_JOB = 'format';
export interface FormatJobParams {
  filesystemId: string;
  /** The engine id, decimal (a bigint for StorageHost.createFilesystem). */
  fsid: string;
  sizeBytes: number;
}

/**
 * Filesystems: rows in `filesystems`, the space behind them through the StorageHost. States:
 * `creating` (row committed, format job queued; the format processor sets `ready` or
 * `failed`), `ready`, `deleting` (space being freed; a DELETE may be repeated), `failed`.
 */
@Injectable()
export class FilesystemService {
  constructor(
    @Inject(ADMIN_DATA_SOURCE) private readonly ds: DataSource,
    @Inject(ADMIN_OPTIONS) private readonly options: AdminModuleOptions,
  ) {}

  async list(limit: number, offset: number): Promise<Page<FilesystemDoc>> {
    const [rows, total] = await this.ds.getRepository(FilesystemEntity).findAndCount({
      order: { name: 'ASC' },
      take: limit,
      skip: offset,
    });
    const docs = await this.withUsage(rows);
    return page(docs, total, limit, offset);
  }

  async get(id: string): Promise<FilesystemDoc> {
    const row = await this.find(id);
    return filesystemDoc(row, await this.usage(row));
  }

  async create(dto: CreateFilesystemDto, scope: AuditScope): Promise<{ filesystem: FilesystemDoc; job: JobDoc }> {
    scope.about(dto.name, { name: dto.name, sizeBytes: dto.sizeBytes });
    let row: FilesystemEntity;
    try {
      row = await this.ds.transaction(async (m) => {
        const poolId = await this.poolFor(dto.poolId, m.getRepository(PoolEntity));
        if (await m.existsBy(FilesystemEntity, { name: dto.name })) throw conflict(`a filesystem named "${dto.name}" exists`);
        const fsid = await nextFsid(m);
        const created = await m.save(
          m.create(FilesystemEntity, { name: dto.name, fsid, poolId, sizeBytes: dto.sizeBytes, state: 'creating' }),
        );
        await scope.record(m, created.id, { name: dto.name, sizeBytes: dto.sizeBytes, fsid });
        return created;
      });
    } catch (err) {
      if (sqlState(err) === PG_UNIQUE_VIOLATION) throw conflict(`a filesystem named "${dto.name}" exists`);
      throw err;
    }
    // The job is queued after the row commits (the processor must find it). Should queueing
    // fail, the row is taken back so nothing is left half-made.
    let jobId: string;
    try {
      const params: FormatJobParams = { filesystemId: row.id, fsid: String(row.fsid), sizeBytes: row.sizeBytes };
      jobId = await this.options.jobs.enqueue(FORMAT_JOB, params, {
        idempotencyKey: `format:${row.id}`,
        createdBy: scope.actor,
      });
    } catch (err) {
      await this.ds.transaction(async (m) => {
        await m.delete(FilesystemEntity, { id: row.id, state: 'creating' });
        await m.query(`INSERT INTO audit_log (actor, action, target, detail, status) VALUES ($1, 'filesystem.create.undo', $2, $3, 503)`, [
          scope.actor,
          row.id,
          { reason: (err as Error).message },
        ]);
      });
      throw new ControlError(ControlErrorCode.Unavailable, `the format job could not be queued: ${(err as Error).message}`);
    }
    await this.publish();
    const job = await this.ds.getRepository(JobEntity).findOneByOrFail({ id: jobId });
    return { filesystem: filesystemDoc(row), job: jobDoc(job) };
  }

  /** Raises the size limit: the engine first (it never lowers one), then the row. */
  async grow(id: string, sizeBytes: number, scope: AuditScope): Promise<FilesystemDoc> {
    scope.about(id, { sizeBytes });
    const host = this.host();
    const row = await this.ds.transaction(async (m) => {
      const fs = await m.findOne(FilesystemEntity, { where: { id: this.checkId(id) }, lock: { mode: 'pessimistic_write' } });
      if (!fs) throw notFound('filesystem', id);
      scope.about(fs.name, { sizeBytes, fromBytes: fs.sizeBytes });
      if (fs.state !== 'ready') throw conflict(`filesystem ${fs.name} is ${fs.state}, not ready`);
      if (sizeBytes < fs.sizeBytes) {
        throw refused(`filesystem ${fs.name} can only grow: ${sizeBytes} bytes is below its size of ${fs.sizeBytes} bytes`);
      }
      if (sizeBytes > fs.sizeBytes) {
        await host.growFilesystem(BigInt(fs.fsid), sizeBytes);
        await m.update(FilesystemEntity, { id: fs.id }, { sizeBytes });
      }
      await scope.record(m, fs.name, { sizeBytes, fromBytes: fs.sizeBytes });
      return m.findOneByOrFail(FilesystemEntity, { id: fs.id });
    });
    await this.publish();
    return filesystemDoc(row, await this.usage(row));
  }

  /**
   * Deletes an unexported filesystem after confirmation by name: the row goes to `deleting`
   * (committed), the engine frees the space, then the row goes. A failure in between leaves
   * `deleting`, and the DELETE can be repeated (freeing is idempotent).
   */
  async delete(id: string, confirm: string | undefined, scope: AuditScope): Promise<void> {
    scope.about(id);
    const host = this.host();
    const fs = await this.ds.transaction(async (m) => {
      const row = await m.findOne(FilesystemEntity, { where: { id: this.checkId(id) }, lock: { mode: 'pessimistic_write' } });
      if (!row) throw notFound('filesystem', id);
      scope.about(row.name, { fsid: row.fsid });
      if (confirm !== row.name) {
        throw refused(`deleting filesystem ${row.name} needs ?confirm=${row.name}`);
      }
      const exports = await m.countBy(ExportEntity, { filesystemId: row.id });
      if (exports > 0) throw conflict(`filesystem ${row.name} has ${exports} export(s); remove them first`);
      if (row.state === 'creating') throw conflict(`filesystem ${row.name} is still being created`);
      await m.update(FilesystemEntity, { id: row.id }, { state: 'deleting' });
      await scope.record(m, row.name, { fsid: row.fsid });
      return row;
    });
    await this.publish();
    await host.deleteFilesystem(BigInt(fs.fsid));
    await this.ds.getRepository(FilesystemEntity).delete({ id: fs.id, state: 'deleting' });
    await this.publish();
  }

  private async find(id: string): Promise<FilesystemEntity> {
    const row = await this.ds.getRepository(FilesystemEntity).findOneBy({ id: this.checkId(id) });
    if (!row) throw notFound('filesystem', id);
    return row;
  }

  private checkId(id: string): string {
    if (!isUuid(id)) throw notFound('filesystem', id);
    return id;
  }

  private async poolFor(poolId: string | undefined, pools: import('typeorm').Repository<PoolEntity>): Promise<string> {
    if (poolId !== undefined) {
      if (!(await pools.existsBy({ id: poolId }))) throw refused(`pool ${poolId} does not exist`);
      return poolId;
    }
    const all = await pools.find({ take: 2 });
    if (all.length === 0) throw refused('no pool is registered');
    if (all.length > 1) throw refused('there are several pools: name one with poolId');
    return all[0]!.id;
  }

  private host(): StorageHost {
    const host = this.options.storageHost;
    if (!host) throw new ControlError(ControlErrorCode.Unavailable, 'no storage host is attached to this admin API');
    return host;
  }

  /** filesystemDoc of each row: one usageOf call for the page when the host has it, else usage() per row. */
  private async withUsage(rows: FilesystemEntity[]): Promise<FilesystemDoc[]> {
    const host = this.options.storageHost;
    if (!host?.usageOf) return Promise.all(rows.map(async (r) => filesystemDoc(r, await this.usage(r))));
    const ready = rows.filter((r) => r.state === 'ready').map((r) => BigInt(r.fsid));
    let figures = new Map<bigint, FsUsage>();
    try {
      figures = await host.usageOf(ready);
    } catch (err) {
      this.options.logger.warn({ err }, 'usage of the filesystems failed');
    }
    return rows.map((r) => filesystemDoc(r, r.state === 'ready' ? (figures.get(BigInt(r.fsid)) ?? null) : null));
  }

  /** Usage from the engine; null when the filesystem is not served here or the host fails. */
  private async usage(row: FilesystemEntity): Promise<FsUsage | null> {
    const host = this.options.storageHost;
    if (!host || row.state !== 'ready') return null;
    try {
      return (await host.usage(BigInt(row.fsid))) ?? null;
    } catch (err) {
      this.options.logger.warn({ err, fsid: row.fsid }, 'usage of a filesystem failed');
      return null;
    }
  }

  private async publish(): Promise<void> {
    await this.options.events.publish(EVENT_TOPICS.filesystemsChanged, {}).catch((err: unknown) => {
      this.options.logger.warn({ err }, 'could not publish filesystems.changed');
    });
  }
}
