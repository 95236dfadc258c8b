/**
 * The persistence a job queue needs from the `jobs` table. The table is the record the API reads;
 * the queue only drives execution. Invariants the implementations rely on:
 * - states only move queued -> running -> succeeded | failed | cancelled, and queued -> cancelled;
 *   a terminal row is never changed again (running -> queued happens only when a dead run is
 *   requeued, and running -> running when a new run takes over after its process died);
 * - every state change is a compare-and-set on the current state (`update(.., from)`), so a cancel
 *   and a finish, or two workers, cannot both win;
 * - `create` with an idempotency key that already exists answers the existing row, never a second
 *   one (a unique index on `idempotency_key`, so two concurrent enqueues cannot both insert).
 */

import type { JobState } from '../entities/job.entity';

export type { JobState };

export const TERMINAL_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];
export const LIVE_JOB_STATES: readonly JobState[] = ['queued', 'running'];

export function isTerminal(state: JobState): boolean {
  return TERMINAL_JOB_STATES.includes(state);
}

export interface JobRecord {
  id: string;
  type: string;
  params: unknown;
  state: JobState;
  /** 0..1 */
  progress: number;
  detail: Record<string, unknown> | null;
  result: unknown;
  error: string | null;
  idempotencyKey: string | null;
  createdBy: string | null;
  /** Set by a cancel; a queued job is then never started and a running one is aborted. */
  cancelRequested: boolean;
  /** Runs started so far (a run after a crash counts again). */
  attempts: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface NewJob {
  type: string;
  params: unknown;
  idempotencyKey?: string;
  createdBy?: string;
}

export type JobPatch = Partial<
  Pick<JobRecord, 'state' | 'progress' | 'detail' | 'result' | 'error' | 'cancelRequested' | 'attempts' | 'startedAt' | 'finishedAt'>
>;

export interface JobStore {
  /**
   * Inserts a queued row with a new id. When `idempotencyKey` is already taken, inserts nothing
   * and answers the existing row with `created: false`.
   */
  create(job: NewJob): Promise<{ job: JobRecord; created: boolean }>;
  get(id: string): Promise<JobRecord | undefined>;
  findByIdempotencyKey(key: string): Promise<JobRecord | undefined>;
  /**
   * Applies `patch` when the row exists and, if `from` is given, its state is one of `from`.
   * Answers whether it did (SQL: `UPDATE jobs SET .. WHERE id = $1 AND state = ANY($2)`).
   */
  update(id: string, patch: JobPatch, from?: readonly JobState[]): Promise<boolean>;
  /** Rows in any of `states`, oldest first. */
  listByState(states: readonly JobState[]): Promise<JobRecord[]>;
}
