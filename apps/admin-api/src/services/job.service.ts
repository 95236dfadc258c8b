import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import {
  conflict,
  ExportEntity,
  FilesystemEntity,
  FINISHED_JOB_STATES,
  JobEntity,
  notFound,
  refused,
  type JobState,
} from '@ferry/control';
import { ADMIN_DATA_SOURCE, ADMIN_OPTIONS, type AdminModuleOptions } from '../admin-options';
import type { AuditScope } from '../common/audit';
import type { CreateJobDto } from '../dto/misc.dto';
import { jobDoc, type JobDoc } from './docs';
import { isUuid, page, type Page } from './paging';

/** Params of the scrub and fsck jobs the API queues. */
export interface CheckJobParams {
  filesystemId: string;
  fsid: string;
}

/**
 * Jobs: the `jobs` table is the record (the queue writes state and progress into it). Scrub and
 * fsck of one filesystem do not run side by side: a second one while one is queued or running is
 * a conflict, unless it carries the same idempotency key (then it is the same job).
 */
@Injectable()
export class JobService {
  constructor(
    @Inject(ADMIN_DATA_SOURCE) private readonly ds: DataSource,
    @Inject(ADMIN_OPTIONS) private readonly options: AdminModuleOptions,
  ) {}

  async list(limit: number, offset: number, state?: JobState): Promise<Page<JobDoc>> {
    const [rows, total] = await this.ds.getRepository(JobEntity).findAndCount({
      where: state ? { state } : {},
      order: { createdAt: 'DESC', id: 'ASC' },
      take: limit,
      skip: offset,
    });
    return page(rows.map(jobDoc), total, limit, offset);
  }

  async get(id: string): Promise<JobDoc> {
    return jobDoc(await this.find(id));
  }

  async create(dto: CreateJobDto, scope: AuditScope): Promise<JobDoc> {
    scope.about(dto.filesystemId, { ...dto });
    const jobs = this.ds.getRepository(JobEntity);
    if (dto.idempotencyKey !== undefined) {
      const existing = await jobs.findOneBy({ idempotencyKey: dto.idempotencyKey });
      if (existing) {
        if (existing.type !== dto.type || (existing.params as Partial<CheckJobParams>).filesystemId !== dto.filesystemId) {
          throw conflict(`idempotency key ${dto.idempotencyKey} belongs to another job (${existing.id})`);
        }
        scope.about(existing.id, { ...dto, existing: true });
        return jobDoc(existing);
      }
    }
    const fs = await this.ds.getRepository(FilesystemEntity).findOneBy({ id: dto.filesystemId });
    if (!fs) throw refused(`filesystem ${dto.filesystemId} does not exist`);
    scope.about(fs.name, { ...dto });
    if (fs.state !== 'ready') throw conflict(`filesystem ${fs.name} is ${fs.state}, not ready`);
    if (dto.type === 'fsck') {
      const exports = await this.ds.getRepository(ExportEntity).countBy({ filesystemId: fs.id });
      if (exports > 0) throw conflict(`fsck needs an unexported filesystem; ${fs.name} has ${exports} export(s)`);
    }
    const live = await jobs
      .createQueryBuilder('j')
      .where('j.type IN (:...types)', { types: ['scrub', 'fsck'] })
      .andWhere('j.state IN (:...states)', { states: ['queued', 'running'] })
      .andWhere(`j.params->>'filesystemId' = :id`, { id: fs.id })
      .getOne();
    if (live) throw conflict(`a ${live.type} of ${fs.name} is already ${live.state} (job ${live.id})`);
    const params: CheckJobParams = { filesystemId: fs.id, fsid: String(fs.fsid) };
    const id = await this.options.jobs.enqueue(dto.type, params, { idempotencyKey: dto.idempotencyKey, createdBy: scope.actor });
    scope.about(fs.name, { ...dto, jobId: id });
    return this.get(id);
  }

  async cancel(id: string, scope: AuditScope): Promise<JobDoc> {
    scope.about(id);
    const job = await this.find(id);
    if (FINISHED_JOB_STATES.includes(job.state)) throw conflict(`job ${id} has already ${job.state === 'cancelled' ? 'been cancelled' : job.state}`);
    await this.options.jobs.cancel(id);
    return this.get(id);
  }

  private async find(id: string): Promise<JobEntity> {
    const row = isUuid(id) ? await this.ds.getRepository(JobEntity).findOneBy({ id }) : null;
    if (!row) throw notFound('job', id);
    return row;
  }
}
