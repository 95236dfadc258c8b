/**
 * The job queue of the embedded start (no Redis): a FIFO of job ids in this process with a
 * concurrency limit. Invariants: a job id is in the FIFO or running here at most once; this process
 * is the only runner, so a row found `running` at start belongs to a run that died with the
 * previous process and is queued again (it starts over: processors are idempotent); rows found
 * `queued` at start are queued again in creation order.
 */
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
import { isTerminal, type JobStore } from './job-store';

export interface InProcessJobQueueOptions {
  /** Jobs run at the same time (default 2). */
  concurrency?: number;
  /** Minimum time between two progress writes of a job (default 250 ms: at most 4 a second). */
  progressIntervalMs?: number;
  now?: () => number;
  logger?: JobLogger;
}

export class InProcessJobQueue implements JobQueue {
  private readonly processors = new Map<string, JobProcessor>();
  private readonly fifo: string[] = [];
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private readonly concurrency: number;
  private readonly progressIntervalMs: number;
  private readonly now: () => number;
  private readonly logger: JobLogger;
  private started = false;
  private closed = false;

  constructor(
    private readonly store: JobStore,
    opts: InProcessJobQueueOptions = {},
  ) {
    this.concurrency = opts.concurrency ?? 2;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new RangeError('concurrency must be a positive integer');
    this.progressIntervalMs = opts.progressIntervalMs ?? 250;
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger ?? consoleJobLogger;
  }

  register(processor: JobProcessor): void {
    if (this.processors.has(processor.type)) throw new Error(`a processor for job type "${processor.type}" is already registered`);
    this.processors.set(processor.type, processor);
  }

  async enqueue(type: string, params: unknown, opts: EnqueueOptions = {}): Promise<string> {
    if (this.closed) throw new JobError(JobErrorCode.QUEUE_CLOSED, 'the job queue is closed');
    // Only this process runs jobs, so a type nobody here can run is refused before it is recorded.
    if (!this.processors.has(type)) throw new JobError(JobErrorCode.UNKNOWN_JOB_TYPE, `unknown job type "${type}"`);
    const { job, created } = await this.store.create({ type, params, ...opts });
    if (created) this.push(job.id);
    return job.id;
  }

  async cancel(jobId: string): Promise<void> {
    const job = await this.store.get(jobId);
    if (!job) throw new JobError(JobErrorCode.JOB_NOT_FOUND, `job ${jobId} not found`);
    if (isTerminal(job.state)) return;
    await this.store.update(jobId, { cancelRequested: true }, ['queued', 'running']);
    const at = this.fifo.indexOf(jobId);
    if (at >= 0) {
      this.fifo.splice(at, 1);
      await this.store.update(jobId, { state: 'cancelled', finishedAt: new Date(this.now()) }, ['queued']);
      return;
    }
    this.running.get(jobId)?.controller.abort(new JobCancelledError(jobId));
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const job of await this.store.listByState(['running', 'queued'])) {
      // The previous process died while this ran; it starts over.
      if (job.state === 'running') await this.store.update(job.id, { state: 'queued', progress: 0 }, ['running']);
      this.push(job.id);
    }
    this.pump();
  }

  /**
   * Stops taking jobs. By default waits for the running ones; with `abandonRunning` aborts them and
   * leaves their rows `running` (recovered at the next start) and returns once they have returned.
   */
  async close(opts: { abandonRunning?: boolean } = {}): Promise<void> {
    this.closed = true;
    this.fifo.length = 0;
    if (opts.abandonRunning) for (const [id, r] of this.running) r.controller.abort(new JobAbandonedError(id));
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  private push(id: string): void {
    if (this.fifo.includes(id) || this.running.has(id)) return;
    this.fifo.push(id);
    this.pump();
  }

  private pump(): void {
    while (this.started && !this.closed && this.running.size < this.concurrency && this.fifo.length > 0) {
      const id = this.fifo.shift() as string;
      const controller = new AbortController();
      const done = this.runOne(id, controller.signal)
        .catch((err: unknown) => this.logger.error({ jobId: id, err }, 'job run failed in the queue'))
        .finally(() => {
          this.running.delete(id);
          this.pump();
        });
      this.running.set(id, { controller, done });
    }
  }

  private async runOne(id: string, signal: AbortSignal): Promise<void> {
    const job = await this.store.get(id);
    if (!job) return;
    await runJob(this.store, this.processors.get(job.type), job, signal, {
      progressIntervalMs: this.progressIntervalMs,
      now: this.now,
      logger: this.logger,
    });
  }
}
