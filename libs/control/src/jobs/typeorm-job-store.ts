/**
 * The JobStore on the `jobs` table. State changes are single UPDATEs guarded by the current state
 * (`WHERE id = $1 AND state IN (..)`), so concurrent runners and cancels decide by the database;
 * an idempotent create is `INSERT .. ON CONFLICT (idempotency_key) DO NOTHING`, so two concurrent
 * enqueues with one key make one row.
 */
import { In, type DataSource, type QueryDeepPartialEntity, type Repository } from 'typeorm';
import { JobEntity } from '../entities/job.entity';
import type { JobPatch, JobRecord, JobState, JobStore, NewJob } from './job-store';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class TypeOrmJobStore implements JobStore {
  private readonly repo: Repository<JobEntity>;

  constructor(dataSource: DataSource) {
    this.repo = dataSource.getRepository(JobEntity);
  }

  async create(job: NewJob): Promise<{ job: JobRecord; created: boolean }> {
    const rows: Array<{ id: string }> = await this.repo.query(
      `INSERT INTO jobs (type, params, idempotency_key, created_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
      [job.type, JSON.stringify(job.params ?? {}), job.idempotencyKey ?? null, job.createdBy ?? null],
    );
    const inserted = rows[0];
    if (inserted) return { job: (await this.get(inserted.id)) as JobRecord, created: true };
    const existing = await this.findByIdempotencyKey(job.idempotencyKey as string);
    if (!existing) throw new Error(`job with idempotency key ${job.idempotencyKey} vanished`);
    return { job: existing, created: false };
  }

  async get(id: string): Promise<JobRecord | undefined> {
    if (!UUID.test(id)) return undefined; // not a job id: the column is uuid and would reject it
    const row = await this.repo.findOneBy({ id });
    return row ? toRecord(row) : undefined;
  }

  async findByIdempotencyKey(key: string): Promise<JobRecord | undefined> {
    const row = await this.repo.findOneBy({ idempotencyKey: key });
    return row ? toRecord(row) : undefined;
  }

  async update(id: string, patch: JobPatch, from?: readonly JobState[]): Promise<boolean> {
    if (!UUID.test(id)) return false;
    const qb = this.repo
      .createQueryBuilder()
      .update(JobEntity)
      .set(patch as QueryDeepPartialEntity<JobEntity>)
      .where('id = :id', { id });
    if (from) qb.andWhere('state IN (:...from)', { from: [...from] });
    const res = await qb.execute();
    return (res.affected ?? 0) > 0;
  }

  async listByState(states: readonly JobState[]): Promise<JobRecord[]> {
    const rows = await this.repo.find({ where: { state: In([...states]) }, order: { createdAt: 'ASC' } });
    return rows.map(toRecord);
  }
}

function toRecord(e: JobEntity): JobRecord {
  return {
    id: e.id,
    type: e.type,
    params: e.params,
    state: e.state,
    progress: e.progress,
    detail: e.detail,
    result: e.result ?? null,
    error: e.error,
    idempotencyKey: e.idempotencyKey,
    createdBy: e.createdBy,
    cancelRequested: e.cancelRequested,
    attempts: e.attempts,
    createdAt: e.createdAt,
    startedAt: e.startedAt,
    finishedAt: e.finishedAt,
  };
}
