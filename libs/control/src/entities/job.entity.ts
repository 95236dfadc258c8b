import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';
import { floatNumber } from './columns';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
/** States a job never leaves. */
export const FINISHED_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

/**
 * The record of a job: the API reads this table, the queue (in-process or BullMQ) only drives
 * execution and writes state, progress and outcome back here. A job with an idempotency key
 * exists once: enqueueing the same key again returns the existing job.
 */
@Entity({ name: 'jobs' })
@Unique('jobs_idempotency_key_key', ['idempotencyKey'])
@Index('jobs_state_idx', ['state'])
@Index('jobs_created_at_idx', ['createdAt'])
@Check('jobs_state_check', "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')")
@Check('jobs_progress_check', 'progress >= 0 AND progress <= 1')
export class JobEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'jobs_pkey' })
  id!: string;

  @Column({ type: 'text' })
  type!: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  params!: Record<string, unknown>;

  @Column({ type: 'text', default: 'queued' })
  state!: JobState;

  @Column({ type: 'double precision', default: 0, transformer: floatNumber })
  progress!: number;

  @Column({ type: 'jsonb', nullable: true })
  detail!: Record<string, unknown> | null;

  @Column({ type: 'jsonb', nullable: true })
  result!: unknown;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ name: 'idempotency_key', type: 'text', nullable: true })
  idempotencyKey!: string | null;

  @Column({ name: 'created_by', type: 'text', nullable: true })
  createdBy!: string | null;

  /** Set by a cancel request; the worker running the job aborts it and ends it `cancelled`. */
  @Column({ name: 'cancel_requested', type: 'boolean', default: false })
  cancelRequested!: boolean;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
