/**
 * Goal: both job queues (in-process and BullMQ) keep the same contract: runs, throttled progress,
 * failure messages, cancel of queued and running jobs, idempotency keys, and recovery of a job
 * whose process died. Method: one suite run against each implementation with an in-memory store
 * double; the BullMQ one on the real Redis at 127.0.0.1:6379 with a random queue name, removed at
 * the end, and short lock and stall intervals so recovery takes about a second.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BullJobQueue } from './bull-job-queue';
import { InProcessJobQueue } from './in-process-job-queue';
import { JobError, JobErrorCode, type JobContext, type JobProcessor, type JobQueue } from './job-queue';
import type { JobRecord, JobState } from './job-store';
import { MemoryJobStore } from './memory-job-store';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const BULL_PREFIX = 'ferrytest';

interface Impl {
  name: string;
  /** A queue over `store`; `instance` tells apart queues that share one store (and one Redis queue). */
  make(store: MemoryJobStore, opts?: { concurrency?: number }): JobQueue;
}

const bullQueueNames: string[] = [];
let bullQueueName = '';

const impls: Impl[] = [
  {
    name: 'InProcessJobQueue',
    make: (store, opts) => new InProcessJobQueue(store, { concurrency: opts?.concurrency ?? 2, logger: quiet }),
  },
  {
    name: 'BullJobQueue',
    make: (store, opts) =>
      new BullJobQueue(store, {
        redisUrl: REDIS_URL,
        queueName: bullQueueName,
        prefix: BULL_PREFIX,
        concurrency: opts?.concurrency ?? 2,
        lockDurationMs: 1_000,
        stalledIntervalMs: 300,
        cancelPollMs: 200,
        logger: quiet,
      }),
  },
];

const quiet = { warn: () => undefined, error: () => undefined };

const open: JobQueue[] = [];
function track<T extends JobQueue>(q: T): T {
  open.push(q);
  return q;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((q) => q.close({ abandonRunning: true }).catch(() => undefined)));
});

afterAll(async () => {
  for (const name of bullQueueNames) {
    const q = new Queue(name, { connection: { url: REDIS_URL }, prefix: BULL_PREFIX });
    await q.obliterate({ force: true });
    await q.close();
  }
});

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitState(store: MemoryJobStore, id: string, state: JobState, timeoutMs?: number): Promise<JobRecord> {
  return waitFor(
    `job ${id} ${state}`,
    async () => {
      const j = await store.get(id);
      return j?.state === state ? j : undefined;
    },
    timeoutMs,
  );
}

/** A processor whose runs the test releases one by one; it honours the abort signal. */
function gated(type: string) {
  const started: string[] = [];
  const releases = new Map<string, () => void>();
  const processor: JobProcessor = {
    type,
    run: (ctx: JobContext) =>
      new Promise((resolve, reject) => {
        started.push(ctx.jobId);
        releases.set(ctx.jobId, () => resolve({ released: ctx.jobId }));
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      }),
  };
  return { processor, started, release: (id: string) => releases.get(id)?.() };
}

describe.each(impls)('$name', (impl) => {
  const make = (store: MemoryJobStore, opts?: { concurrency?: number }) => {
    if (impl.name === 'BullJobQueue' && !bullQueueName) throw new Error('no queue name');
    return track(impl.make(store, opts));
  };
  const fresh = () => {
    bullQueueName = `jobs-${randomUUID()}`;
    bullQueueNames.push(bullQueueName);
    return new MemoryJobStore();
  };

  it('runs a job with its params and records the result', async () => {
    const store = fresh();
    const q = make(store);
    const seen: unknown[] = [];
    q.register({
      type: 'echo',
      run: async (ctx) => {
        seen.push(ctx.params);
        return { doubled: (ctx.params as { n: number }).n * 2 };
      },
    });
    await q.start();
    const id = await q.enqueue('echo', { n: 21 }, { createdBy: 'tester' });
    const job = await waitState(store, id, 'succeeded');
    expect(seen).toEqual([{ n: 21 }]);
    expect(job.result).toEqual({ doubled: 42 });
    expect(job.progress).toBe(1);
    expect(job.createdBy).toBe('tester');
    expect(job.attempts).toBe(1);
    expect(job.startedAt).toBeInstanceOf(Date);
    expect(job.finishedAt).toBeInstanceOf(Date);
    const states = store.updates.filter((u) => u.id === id && u.patch.state).map((u) => u.patch.state);
    expect(states).toEqual(['running', 'succeeded']);
  });

  it('writes progress while running, at most about four times a second', async () => {
    const store = fresh();
    const q = make(store);
    let proceed!: () => void;
    const halfway = new Promise<void>((r) => (proceed = r));
    q.register({
      type: 'scan',
      run: async (ctx) => {
        // 1000 reports in ~0.6 s: the store must see only a handful.
        for (let i = 1; i <= 500; i++) {
          ctx.progress(i, 1000, { blocks: i });
          if (i % 50 === 0) await sleep(60);
        }
        await halfway;
        for (let i = 501; i <= 1000; i++) ctx.progress(i, 1000, { blocks: i });
        return null;
      },
    });
    await q.start();
    const id = await q.enqueue('scan', {});
    const mid = await waitFor('progress 0.5', async () => {
      const j = await store.get(id);
      return j && j.progress === 0.5 ? j : undefined;
    });
    expect(mid.state).toBe('running');
    expect(mid.detail).toEqual({ blocks: 500, done: 500, total: 1000 });
    proceed();
    await waitState(store, id, 'succeeded');
    const writes = store.updates.filter((u) => u.id === id && u.patch.progress !== undefined && !u.patch.state);
    const startedAt = (await store.get(id))!.startedAt!.getTime();
    const spanS = (Date.now() - startedAt) / 1000;
    expect(writes.length).toBeGreaterThanOrEqual(2);
    expect(writes.length).toBeLessThanOrEqual(Math.ceil(spanS * 4) + 2);
  });

  it('records the failure message of a processor that throws', async () => {
    const store = fresh();
    const q = make(store);
    q.register({
      type: 'boom',
      run: async (ctx) => {
        ctx.progress(3, 10);
        throw new Error('disk on fire');
      },
    });
    await q.start();
    const id = await q.enqueue('boom', {});
    const job = await waitState(store, id, 'failed');
    expect(job.error).toBe('disk on fire');
    expect(job.progress).toBeCloseTo(0.3);
  });

  it('cancels a queued job: it never runs', async () => {
    const store = fresh();
    const q = make(store, { concurrency: 1 });
    const g = gated('slow');
    q.register(g.processor);
    await q.start();
    const first = await q.enqueue('slow', {});
    await waitFor('first started', async () => g.started.includes(first));
    const second = await q.enqueue('slow', {});
    await q.cancel(second);
    expect((await store.get(second))!.state).toBe('cancelled');
    g.release(first);
    await waitState(store, first, 'succeeded');
    await sleep(300);
    expect(g.started).toEqual([first]);
    expect((await store.get(second))!.state).toBe('cancelled');
  });

  it('cancels a running job through its abort signal', async () => {
    const store = fresh();
    const q = make(store);
    const g = gated('slow');
    q.register(g.processor);
    await q.start();
    const id = await q.enqueue('slow', {});
    await waitFor('started', async () => g.started.includes(id));
    await waitState(store, id, 'running');
    const t0 = Date.now();
    await q.cancel(id);
    const job = await waitState(store, id, 'cancelled', 2_000);
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(job.cancelRequested).toBe(true);
    expect(job.error).toBeNull();
    // Cancelling a finished job changes nothing; an unknown one is an error.
    await q.cancel(id);
    expect((await store.get(id))!.state).toBe('cancelled');
    await expect(q.cancel(randomUUID())).rejects.toMatchObject({ code: JobErrorCode.JOB_NOT_FOUND });
  });

  it('answers the existing job for a repeated idempotency key and runs it once', async () => {
    const store = fresh();
    const q = make(store);
    let runs = 0;
    q.register({
      type: 'format',
      run: async () => {
        runs++;
        await sleep(100);
        return 'ok';
      },
    });
    await q.start();
    const a = await q.enqueue('format', { fs: 1 }, { idempotencyKey: 'format:1' });
    const b = await q.enqueue('format', { fs: 1 }, { idempotencyKey: 'format:1' });
    expect(b).toBe(a);
    await waitState(store, a, 'succeeded');
    const c = await q.enqueue('format', { fs: 1 }, { idempotencyKey: 'format:1' });
    expect(c).toBe(a);
    await sleep(300);
    expect(runs).toBe(1);
    const d = await q.enqueue('format', { fs: 2 }, { idempotencyKey: 'format:2' });
    expect(d).not.toBe(a);
    await waitState(store, d, 'succeeded');
    expect(runs).toBe(2);
  });

  it('hands a job abandoned by a shutdown to the next instance, which starts it over', async () => {
    const store = fresh();
    const q1 = make(store);
    const g1 = gated('scrub');
    q1.register(g1.processor);
    await q1.start();
    const id = await q1.enqueue('scrub', { fs: 7 });
    await waitFor('started on the first instance', async () => g1.started.includes(id));
    await q1.close({ abandonRunning: true });
    expect((await store.get(id))!.state).toBe('running');

    const q2 = make(store);
    const g2 = gated('scrub');
    q2.register(g2.processor);
    await q2.start();
    await waitFor('started on the second instance', async () => g2.started.includes(id), 5_000);
    g2.release(id);
    const job = await waitState(store, id, 'succeeded');
    expect(job.result).toEqual({ released: id });
    expect(job.attempts).toBe(2);
    expect(g1.started).toEqual([id]);
  });
});

describe('InProcessJobQueue', () => {
  it('runs again a job the store says was running when the process died', async () => {
    const store = new MemoryJobStore();
    const { job } = await store.create({ type: 'scrub', params: { fs: 3 } });
    await store.update(job.id, { state: 'running', progress: 0.6 }, ['queued']);
    const q = track(new InProcessJobQueue(store, { logger: quiet }));
    const runs: unknown[] = [];
    q.register({ type: 'scrub', run: async (ctx) => runs.push(ctx.params) });
    await q.start();
    await waitState(store, job.id, 'succeeded');
    expect(runs).toEqual([{ fs: 3 }]);
  });

  it('refuses a job type it has no processor for, before recording it', async () => {
    const store = new MemoryJobStore();
    const q = track(new InProcessJobQueue(store, { logger: quiet }));
    await q.start();
    await expect(q.enqueue('nope', {})).rejects.toBeInstanceOf(JobError);
    expect(await store.listByState(['queued'])).toEqual([]);
  });

  it('never runs more jobs at once than its concurrency', async () => {
    const store = new MemoryJobStore();
    const q = track(new InProcessJobQueue(store, { concurrency: 2, logger: quiet }));
    let now = 0;
    let peak = 0;
    q.register({
      type: 't',
      run: async () => {
        peak = Math.max(peak, ++now);
        await sleep(30);
        now--;
      },
    });
    await q.start();
    const ids = await Promise.all(Array.from({ length: 6 }, () => q.enqueue('t', {})));
    for (const id of ids) await waitState(store, id, 'succeeded');
    expect(peak).toBe(2);
  });
});

describe('BullJobQueue', () => {
  it('recovers a job whose worker died mid-run (lock not renewed) on another instance', async () => {
    bullQueueName = `jobs-${randomUUID()}`;
    bullQueueNames.push(bullQueueName);
    const store = new MemoryJobStore();
    const dying = impls[1]!.make(store) as BullJobQueue;
    let dyingRuns = 0;
    dying.register({ type: 'scrub', run: () => (dyingRuns++, new Promise(() => undefined)) });
    await dying.start();
    const id = await dying.enqueue('scrub', { fs: 9 });
    await waitState(store, id, 'running');
    // Die: the worker stops (no lock renewal, no completion) and its processor never returns.
    const internals = dying as unknown as { worker: { close(force: boolean): Promise<void> } };
    await internals.worker.close(true);

    const heir = track(impls[1]!.make(store) as BullJobQueue);
    let heirRuns = 0;
    heir.register({ type: 'scrub', run: async (ctx) => (heirRuns++, { fs: (ctx.params as { fs: number }).fs }) });
    await heir.start();
    const job = await waitState(store, id, 'succeeded', 10_000);
    expect(job.result).toEqual({ fs: 9 });
    expect(job.attempts).toBe(2);
    expect(dyingRuns).toBe(1);
    expect(heirRuns).toBe(1);
  });

  it('re-adds at start a queued row whose BullMQ job was lost', async () => {
    bullQueueName = `jobs-${randomUUID()}`;
    bullQueueNames.push(bullQueueName);
    const store = new MemoryJobStore();
    const { job } = await store.create({ type: 'echo', params: 1 });
    const q = track(impls[1]!.make(store));
    q.register({ type: 'echo', run: async (ctx) => ctx.params });
    await q.start();
    expect((await waitState(store, job.id, 'succeeded')).result).toBe(1);
  });

  it('lets an instance without processors enqueue and cancel for the workers elsewhere', async () => {
    bullQueueName = `jobs-${randomUUID()}`;
    bullQueueNames.push(bullQueueName);
    const store = new MemoryJobStore();
    const api = track(impls[1]!.make(store));
    await api.start();
    const worker = track(impls[1]!.make(store));
    const g = gated('scrub');
    worker.register(g.processor);
    await worker.start();
    const id = await api.enqueue('scrub', {});
    await waitFor('started on the worker', async () => g.started.includes(id));
    await waitState(store, id, 'running');
    await api.cancel(id);
    await waitState(store, id, 'cancelled', 2_000);
  });
});
