/**
 * One run of one job, shared by both queues: claims the row (queued or running -> running),
 * runs the processor with throttled progress, and records the outcome with a compare-and-set from
 * `running`, so a run never overwrites a state someone else decided. A run aborted with
 * JobAbandonedError (shutdown without waiting) writes nothing after the abort: the row stays
 * `running` and the job is recovered like one whose process died.
 */
import { JobAbandonedError, type JobLogger, type JobProcessor } from './job-queue';
import type { JobRecord, JobState, JobStore } from './job-store';

export interface RunOptions {
  /** Minimum time between two progress writes of one job. */
  progressIntervalMs: number;
  now: () => number;
  logger: JobLogger;
}

/** What a run ended with: the state it wrote, or why it wrote none. */
export type RunOutcome = JobState | 'skipped' | 'abandoned';

export async function runJob(
  store: JobStore,
  processor: JobProcessor | undefined,
  job: JobRecord,
  signal: AbortSignal,
  opts: RunOptions,
): Promise<RunOutcome> {
  const { id } = job;
  if (job.state !== 'queued' && job.state !== 'running') return 'skipped';
  if (signal.aborted && signal.reason instanceof JobAbandonedError) return 'abandoned';
  if (job.cancelRequested || signal.aborted) {
    return (await store.update(id, { state: 'cancelled', finishedAt: new Date(opts.now()) }, ['queued', 'running']))
      ? 'cancelled'
      : 'skipped';
  }
  if (!processor) {
    const error = `no processor registered for job type "${job.type}"`;
    return (await store.update(id, { state: 'failed', error, finishedAt: new Date(opts.now()) }, ['queued', 'running']))
      ? 'failed'
      : 'skipped';
  }
  // A run after a crash starts over, so its progress does too.
  const claimed = await store.update(
    id,
    {
      state: 'running',
      progress: 0,
      detail: null,
      result: null,
      error: null,
      attempts: job.attempts + 1,
      startedAt: new Date(opts.now()),
      finishedAt: null,
    },
    ['queued', 'running'],
  );
  if (!claimed) return 'skipped';

  const writer = new ProgressWriter(store, id, opts);
  let result: unknown;
  let failure: unknown;
  let ok = false;
  try {
    result = await processor.run({
      jobId: id,
      params: job.params,
      signal,
      progress: (done, total, detail) => writer.report(done, total, detail),
    });
    ok = true;
  } catch (err) {
    failure = err;
  }
  const abandoned = signal.aborted && signal.reason instanceof JobAbandonedError;
  // The last progress stays visible for a failed or cancelled run; an abandoned run writes nothing.
  await writer.close(!abandoned);
  if (abandoned) return 'abandoned';

  const finishedAt = new Date(opts.now());
  let patch: Parameters<JobStore['update']>[1];
  if (ok) patch = { state: 'succeeded', progress: 1, result: result ?? null, finishedAt };
  else if (signal.aborted) patch = { state: 'cancelled', finishedAt };
  else patch = { state: 'failed', error: errorMessage(failure), finishedAt };
  const state = patch.state as JobState;
  if (await store.update(id, patch, ['running'])) return state;
  opts.logger.warn({ jobId: id, state }, 'job outcome not recorded: the row is no longer running');
  return 'skipped';
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/**
 * Writes progress at most once per interval, always the latest value (a trailing write follows a
 * burst), one write at a time so an older value never lands after a newer one or after the outcome.
 */
class ProgressWriter {
  private lastWriteMs = Number.NEGATIVE_INFINITY;
  private pending?: { progress: number; detail: Record<string, unknown> };
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly store: JobStore,
    private readonly jobId: string,
    private readonly opts: RunOptions,
  ) {}

  report(done: number, total: number, detail?: Record<string, unknown>): void {
    if (this.closed) return;
    const fraction = total > 0 && Number.isFinite(done) ? Math.min(1, Math.max(0, done / total)) : 0;
    this.pending = { progress: fraction, detail: { ...detail, done, total } };
    if (this.timer) return;
    const waitMs = this.lastWriteMs + this.opts.progressIntervalMs - this.opts.now();
    if (waitMs <= 0) this.write();
    else this.timer = setTimeout(() => this.write(), waitMs);
  }

  private write(): void {
    this.timer = undefined;
    const value = this.pending;
    this.pending = undefined;
    if (!value) return;
    this.lastWriteMs = this.opts.now();
    this.chain = this.chain
      .then(async () => {
        await this.store.update(this.jobId, value, ['running']);
      })
      .catch((err: unknown) => this.opts.logger.warn({ jobId: this.jobId, err }, 'job progress not written'));
  }

  /** Writes (or drops) the value not yet written and waits for the writes in flight. */
  async close(flush: boolean): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (flush) this.write();
    this.timer = undefined;
    this.pending = undefined;
    await this.chain;
  }
}
