import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import {
  conflict,
  EVENT_TOPICS,
  ExportEntity,
  FilesystemEntity,
  notFound,
  PG_UNIQUE_VIOLATION,
  refused,
  sqlState,
  loadExportRecords,
  type ExportRecord,
} from '@ferry/control';
import { ADMIN_DATA_SOURCE, ADMIN_OPTIONS, type AdminModuleOptions } from '../admin-options';
import type { AuditScope } from '../common/audit';
import type { CreateExportDto, UpdateExportDto } from '../dto/export.dto';
import { exportDoc, type ExportDoc } from './docs';
import { isUuid, page, type Page } from './paging';

/**
 * Exports: each change commits with its audit row, then `exports.changed` is published so the
 * movers reload their export table from the database (they also reload on a timer).
 */
@Injectable()
export class ExportService {
  constructor(
    @Inject(ADMIN_DATA_SOURCE) private readonly ds: DataSource,
    @Inject(ADMIN_OPTIONS) private readonly options: AdminModuleOptions,
  ) {}

  async list(limit: number, offset: number): Promise<Page<ExportDoc>> {
    const [rows, total] = await this.ds.getRepository(ExportEntity).findAndCount({
      relations: { filesystem: true },
      order: { path: 'ASC' },
      take: limit,
      skip: offset,
    });
    return page(rows.map(exportDoc), total, limit, offset);
  }

  async get(id: string): Promise<ExportDoc> {
    return exportDoc(await this.find(this.ds.manager, id));
  }

  async create(dto: CreateExportDto, scope: AuditScope): Promise<ExportDoc> {
    scope.about(dto.path, { ...dto });
    const id = await this.unique(dto.path, () =>
      this.ds.transaction(async (m) => {
        // FOR SHARE: a concurrent delete of the filesystem waits for this export, then sees it.
        const fs = await m.findOne(FilesystemEntity, { where: { id: dto.filesystemId }, lock: { mode: 'pessimistic_read' } });
        if (!fs) throw refused(`filesystem ${dto.filesystemId} does not exist`);
        if (fs.state === 'deleting') throw conflict(`filesystem ${fs.name} is being deleted`);
        if (await m.existsBy(ExportEntity, { path: dto.path })) throw conflict(`an export with path ${dto.path} exists`);
        const row = await m.save(
          m.create(ExportEntity, {
            filesystemId: fs.id,
            path: dto.path,
            clients: dto.clients,
            access: dto.access ?? 'rw',
            rootSquash: dto.rootSquash ?? true,
            allSquash: dto.allSquash ?? false,
            anonUid: dto.anonUid ?? 65534,
            anonGid: dto.anonGid ?? 65534,
            secure: dto.secure ?? true,
          }),
        );
        await scope.record(m, dto.path, { id: row.id, filesystem: fs.name, ...dto });
        return row.id;
      }),
    );
    await this.publish();
    return this.get(id);
  }

  async update(id: string, dto: UpdateExportDto, scope: AuditScope): Promise<ExportDoc> {
    scope.about(id, { ...dto });
    await this.unique(dto.path ?? '', () =>
      this.ds.transaction(async (m) => {
        const row = await this.find(m, id, true);
        scope.about(row.path, { ...dto });
        if (dto.path !== undefined && dto.path !== row.path && (await m.existsBy(ExportEntity, { path: dto.path }))) {
          throw conflict(`an export with path ${dto.path} exists`);
        }
        const { filesystem: _fs, ...plain } = row;
        await m.save(ExportEntity, { ...plain, ...dto });
        await scope.record(m, row.path, { id: row.id, ...dto });
      }),
    );
    await this.publish();
    return this.get(id);
  }

  async remove(id: string, scope: AuditScope): Promise<void> {
    scope.about(id);
    await this.ds.transaction(async (m) => {
      const row = await this.find(m, id, true);
      scope.about(row.path);
      await m.delete(ExportEntity, { id: row.id });
      await scope.record(m, row.path, { id: row.id });
    });
    await this.publish();
  }

  /** The export table as the movers serve it (StorageHost.setExports). */
  async records(): Promise<ExportRecord[]> {
    return loadExportRecords(this.ds);
  }

  private async find(m: EntityManager, id: string, lock = false): Promise<ExportEntity> {
    if (!isUuid(id)) throw notFound('export', id);
    const row = lock
      ? await m.findOne(ExportEntity, { where: { id }, lock: { mode: 'pessimistic_write' } })
      : await m.findOne(ExportEntity, { where: { id }, relations: { filesystem: true } });
    if (!row) throw notFound('export', id);
    return row;
  }

  private async unique<T>(path: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (sqlState(err) === PG_UNIQUE_VIOLATION) throw conflict(`an export with path ${path} exists`);
      throw err;
    }
  }

  private async publish(): Promise<void> {
    await this.options.events.publish(EVENT_TOPICS.exportsChanged, {}).catch((err: unknown) => {
      this.options.logger.warn({ err }, 'could not publish exports.changed');
    });
  }
}
