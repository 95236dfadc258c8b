/**
 * The job queue on BullMQ (REDIS_URL set). The store row is the record; a BullMQ job with the
 * same id only drives execution. Invariants:
 * - every queued or running row has a BullMQ job of the same id (`enqueue` adds it after the row;
 *   `start` re-adds any that a crash between the two lost; adding an existing id is a no-op);
 * - a run's outcome is written to the row only; the BullMQ job always completes (never retried by
 *   BullMQ), except an abandoned run, which goes back to wait for another worker;
 * - a worker that dies mid-run stops renewing its lock; BullMQ's stalled check of any live worker
 *   moves the job back to wait and it runs again from the start (processors are idempotent);
 * - cancel is recorded in the row first (`cancelRequested`), then announced on a Redis channel so
 *   the worker running it aborts at once; workers also poll the row, so a lost message only delays
 *   the abort, and a job that restarts after a crash still sees the cancel.
 */
import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import IORedis from 'ioredis';
import {
  consoleJobLogger,
  JobAbandonedError,
  JobCancelledError,
  JobError,
  JobErrorCode,
  type EnqueueOptions,
  type JobLogger,
  type JobProcessor,
  type JobQueue,
} from './job-queue';
import { runJob } from './job-runner';
import { redisPrefix } from '../redis-options';
import { isTerminal, type JobStore } from './job-store';

export interface BullJobQueueOptions {
  /** redis://[user:password@]host:port[/db] */
  redisUrl: string;
  /** BullMQ queue name (default `ferry-jobs`); tests use a random one. */
  queueName?: string;
  /** Key prefix of the BullMQ keys (default `ferry`). */
  prefix?: string;
  /** Jobs this instance runs at the same time (default 2). */
  concurrency?: number;
  /** How long a worker's lock on a running job lasts without renewal (default 30 s). */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died (default 30 s). */
  stalledIntervalMs?: number;
  /** Times a job may be recovered after its worker died before BullMQ gives up on it (default 5). */
  maxStalledCount?: number;
  /** How often a running job's row is read for a cancel request (default 1 s). */
  cancelPollMs?: number;
  /** Minimum time between two progress writes of a job (default 250 ms). */
  progressIntervalMs?: number;
  now?: () => number;
  logger?: JobLogger;
}

export class BullJobQueue implements JobQueue {
  private readonly processors = new Map<string, JobProcessor>();
  private readonly active = new Map<string, AbortController>();
  private readonly opts: Required<Omit<BullJobQueueOptions, 'logger' | 'now'>>;
  private readonly now: () => number;
  private readonly logger: JobLogger;
  private readonly queue: Queue;
  private readonly cancelChannel: string;
  private worker?: Worker;
  private pub?: IORedis;
  private sub?: IORedis;
  private started = false;
  private closed = false;

  constructor(
    private readonly store: JobStore,
    opts: BullJobQueueOptions,
  ) {
    this.opts = {
      queueName: 'ferry-jobs',
      prefix: redisPrefix(),
      concurrency: 2,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      maxStalledCount: 5,
      cancelPollMs: 1_000,
      progressIntervalMs: 250,
      ...opts,
    };
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger ?? consoleJobLogger;
    this.cancelChannel = `${this.opts.prefix}:${this.opts.queueName}:cancel`;
    this.queue = new Queue(this.opts.queueName, { connection: this.connection(), prefix: this.opts.prefix });
    this.queue.on('error', (err) => this.logger.warn({ err }, 'job queue: Redis error'));
  }

  /** Registers a processor: this instance then runs jobs of that type (an API-only instance registers none). */
  register(processor: JobProcessor): void {
    if (this.started) throw new Error('register processors before start()');
    if (this.processors.has(processor.type)) throw new Error(`a processor for job type "${processor.type}" is already registered`);
    this.processors.set(processor.type, processor);
  }

  async enqueue(type: string, params: unknown, opts: EnqueueOptions = {}): Promise<string> {
    if (this.closed) throw new JobError(JobErrorCode.QUEUE_CLOSED, 'the job queue is closed');
    const { job } = await this.store.create({ type, params, ...opts });
    // Also for an existing row: re-adding heals a crash between the insert and the add.
    if (!isTerminal(job.state)) await this.add(job.id, job.type);
    return job.id;
  }

  async cancel(jobId: string): Promise<void> {
    const job = await this.store.get(jobId);
    if (!job) throw new JobError(JobErrorCode.JOB_NOT_FOUND, `job ${jobId} not found`);
    if (isTerminal(job.state)) return;
    await this.store.update(jobId, { cancelRequested: true }, ['queued', 'running']);
    // A job no worker holds yet ends here; one that a worker holds is ended by that worker.
    const bullJob = await this.queue.getJob(jobId);
    const bullState = bullJob ? await bullJob.getState() : 'unknown';
    if (bullState !== 'active') {
      if (await this.store.update(jobId, { state: 'cancelled', finishedAt: new Date(this.now()) }, ['queued'])) {
        await bullJob?.remove().catch(() => undefined); // a worker may take it meanwhile: it then skips it
        return;
      }
    }
    this.abortLocal(jobId);
    await this.publisher().publish(this.cancelChannel, jobId);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.queue.waitUntilReady();
    // Rows whose BullMQ job was lost (a crash between insert and add, or a Redis without persistence).
    for (const job of await this.store.listByState(['queued', 'running'])) {
      if (!(await this.queue.getJob(job.id))) await this.add(job.id, job.type);
    }
    if (this.processors.size === 0) return;
    this.sub = new IORedis(this.opts.redisUrl, { maxRetriesPerRequest: null });
    this.sub.on('error', (err) => this.logger.warn({ err }, 'job queue: Redis error (cancel channel)'));
    this.sub.on('message', (_channel: string, jobId: string) => this.abortLocal(jobId));
    await this.sub.subscribe(this.cancelChannel);
    this.worker = new Worker(this.opts.queueName, (job, token) => this.process(job, token), {
      connection: this.connection(),
      prefix: this.opts.prefix,
      concurrency: this.opts.concurrency,
      lockDuration: this.opts.lockDurationMs,
      stalledInterval: this.opts.stalledIntervalMs,
      maxStalledCount: this.opts.maxStalledCount,
    });
    this.worker.on('error', (err) => this.logger.warn({ err }, 'job worker: Redis error'));
    this.worker.on('failed', (job, err) => {
      // BullMQ fails a job itself only when it stalled too often; the row must not stay running.
      if (job) void this.markFailed(job.id as string, `job failed in the queue: ${err.message}`);
    });
    await this.worker.waitUntilReady();
  }

  /**
   * Stops taking jobs. By default waits for the running ones to finish. With `abandonRunning` aborts
   * them, puts them back in the queue for another worker (or this one after a restart), and
   * returns once their processors have returned.
   */
  async close(opts: { abandonRunning?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (opts.abandonRunning) for (const [id, c] of this.active) c.abort(new JobAbandonedError(id));
    await this.worker?.close();
    await this.sub?.quit().catch(() => undefined);
    await this.pub?.quit().catch(() => undefined);
    await this.queue.close();
  }

  private async process(bullJob: Job, token: string | undefined): Promise<void> {
    const id = bullJob.id as string;
    if (this.closed) {
      // Fetched while closing (maybe the job this instance just abandoned): leave it to the others.
      await bullJob.moveToWait(token);
      throw new WaitingError();
    }
    const job = await this.store.get(id);
    if (!job) {
      this.logger.warn({ jobId: id }, 'job without a row skipped');
      return;
    }
    const controller = new AbortController();
    this.active.set(id, controller);
    if (this.closed) controller.abort(new JobAbandonedError(id)); // close() ran while the row was read
    const poll = setInterval(() => {
      this.store.get(id).then(
        (row) => {
          if (row?.cancelRequested) controller.abort(new JobCancelledError(id));
        },
        (err: unknown) => this.logger.warn({ jobId: id, err }, 'job cancel poll failed'),
      );
    }, this.opts.cancelPollMs);
    try {
      const outcome = await runJob(this.store, this.processors.get(job.type), job, controller.signal, {
        progressIntervalMs: this.opts.progressIntervalMs,
        now: this.now,
        logger: this.logger,
      });
      if (outcome === 'abandoned') {
        await bullJob.moveToWait(token);
        throw new WaitingError();
      }
    } finally {
      clearInterval(poll);
      this.active.delete(id);
    }
  }

  private abortLocal(jobId: string): void {
    this.active.get(jobId)?.abort(new JobCancelledError(jobId));
  }

  private async markFailed(jobId: string, error: string): Promise<void> {
    await this.store
      .update(jobId, { state: 'failed', error, finishedAt: new Date(this.now()) }, ['queued', 'running'])
      .catch((err: unknown) => this.logger.warn({ jobId, err }, 'job failure not recorded'));
  }

  private async add(id: string, type: string): Promise<void> {
    await this.queue.add(type, {}, { jobId: id, attempts: 1, removeOnComplete: true, removeOnFail: { count: 1000 } });
  }

  private publisher(): IORedis {
    this.pub ??= new IORedis(this.opts.redisUrl, { maxRetriesPerRequest: 3 });
    return this.pub;
  }

  private connection() {
    // BullMQ wants commands to wait for a reconnect rather than fail (maxRetriesPerRequest null).
    return { url: this.opts.redisUrl, maxRetriesPerRequest: null };
  }
}
