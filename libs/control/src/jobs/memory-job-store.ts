/**
 * A JobStore in memory with the same compare-and-set and idempotency rules as the SQL one: for
 * tests and for tools that run jobs without a database. Rows are copied in and out so a caller
 * never holds a live row.
 */
import { randomUUID } from 'node:crypto';
import type { JobPatch, JobRecord, JobState, JobStore, NewJob } from './job-store';

export class MemoryJobStore implements JobStore {
  private readonly rows = new Map<string, JobRecord>();
  /** Every update applied, in order (tests count progress writes with it). */
  readonly updates: Array<{ id: string; patch: JobPatch }> = [];

  constructor(private readonly now: () => number = Date.now) {}

  async create(job: NewJob): Promise<{ job: JobRecord; created: boolean }> {
    if (job.idempotencyKey !== undefined) {
      const existing = await this.findByIdempotencyKey(job.idempotencyKey);
      if (existing) return { job: existing, created: false };
    }
    const row: JobRecord = {
      id: randomUUID(),
      type: job.type,
      params: job.params ?? null,
      state: 'queued',
      progress: 0,
      detail: null,
      result: null,
      error: null,
      idempotencyKey: job.idempotencyKey ?? null,
      createdBy: job.createdBy ?? null,
      cancelRequested: false,
      attempts: 0,
      createdAt: new Date(this.now()),
      startedAt: null,
      finishedAt: null,
    };
    this.rows.set(row.id, row);
    return { job: structuredClone(row), created: true };
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const row = this.rows.get(id);
    return row && structuredClone(row);
  }

  async findByIdempotencyKey(key: string): Promise<JobRecord | undefined> {
    for (const row of this.rows.values()) if (row.idempotencyKey === key) return structuredClone(row);
    return undefined;
  }

  async update(id: string, patch: JobPatch, from?: readonly JobState[]): Promise<boolean> {
    const row = this.rows.get(id);
    if (!row || (from && !from.includes(row.state))) return false;
    Object.assign(row, structuredClone(patch));
    this.updates.push({ id, patch: structuredClone(patch) });
    return true;
  }

  async listByState(states: readonly JobState[]): Promise<JobRecord[]> {
    return [...this.rows.values()]
      .filter((r) => states.includes(r.state))
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      .map((r) => structuredClone(r));
  }
}
