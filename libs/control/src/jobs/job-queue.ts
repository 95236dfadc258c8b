/**
 * One interface for the two job queues (in-process for the embedded start, BullMQ with Redis).
 * Processors are registered by type in the process that can do the work (the one holding the
 * pool); the store row is the record, so `enqueue` and `cancel` answer once the row says so and
 * the API reads progress and outcome from the store, never from the queue.
 */
import type { JobRecord } from './job-store';

export interface JobContext {
  jobId: string;
  params: unknown;
  /** Work done so far; written to the store at most a few times a second (the last call wins). */
  progress(done: number, total: number, detail?: Record<string, unknown>): void;
  /** Aborted when the job is cancelled or its process shuts down; the processor should reject soon. */
  signal: AbortSignal;
}

export interface JobProcessor {
  type: string;
  /**
   * Does the work and answers a JSON-serialisable result. Must be idempotent: a run interrupted by
   * a crash starts over from the beginning on another run.
   */
  run(ctx: JobContext): Promise<unknown>;
}

export interface EnqueueOptions {
  /** The same key answers the job created first with it, in whatever state it is. */
  idempotencyKey?: string;
  createdBy?: string;
}

export interface JobQueue {
  /** Records a queued job and answers its id (the existing one for a known idempotency key). */
  enqueue(type: string, params: unknown, opts?: EnqueueOptions): Promise<string>;
  /**
   * Requests the job's end: a queued job becomes `cancelled` at once, a running one is aborted and
   * becomes `cancelled` when its processor returns. A finished job is left as it is. Throws
   * JobError JOB_NOT_FOUND for an unknown id.
   */
  cancel(jobId: string): Promise<void>;
  register(processor: JobProcessor): void;
  /** Starts running jobs (recovering those a dead process left behind). */
  start(): Promise<void>;
  /** Stops taking jobs and waits for the running ones, unless `abandonRunning`: see implementations. */
  close(opts?: { abandonRunning?: boolean }): Promise<void>;
}

export enum JobErrorCode {
  JOB_NOT_FOUND = 'JOB_NOT_FOUND',
  UNKNOWN_JOB_TYPE = 'UNKNOWN_JOB_TYPE',
  QUEUE_CLOSED = 'QUEUE_CLOSED',
}

export class JobError extends Error {
  constructor(
    readonly code: JobErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'JobError';
  }
}

/** Abort reason of a cancel: the run ends `cancelled`. */
export class JobCancelledError extends Error {
  constructor(jobId: string) {
    super(`job ${jobId} cancelled`);
    this.name = 'AbortError';
  }
}

/**
 * Abort reason of a shutdown that does not wait: the run writes nothing more, so the row stays
 * `running` and the job is run again after a restart, exactly as if the process had died.
 */
export class JobAbandonedError extends Error {
  constructor(jobId: string) {
    super(`job ${jobId} abandoned by a shutdown`);
    this.name = 'AbortError';
  }
}

/** The minimal logger the queues need (a pino Logger fits). */
export interface JobLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const consoleJobLogger: JobLogger = {
  warn: (obj, msg) => console.warn(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
};

export type { JobRecord };
