/**
 * Goal: the SQL JobStore keeps the store contract the queues rely on (idempotent create also
 * under concurrency, compare-and-set updates, JSON round trips, state listing) and both queues
 * run jobs on it. Method: a fresh database on the real PostgreSQL with the real migrations; the
 * BullMQ queue on the real Redis with a random queue name, removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataSource, runMigrations } from '../data-source';
import { createTestDatabase, type TestDatabase } from '../testing/test-database';
import { BullJobQueue } from './bull-job-queue';
import { InProcessJobQueue } from './in-process-job-queue';
import type { JobQueue } from './job-queue';
import type { JobRecord } from './job-store';
import { TypeOrmJobStore } from './typeorm-job-store';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const quiet = { warn: () => undefined, error: () => undefined };
let db: TestDatabase;
let ds: DataSource;
let store: TypeOrmJobStore;

beforeAll(async () => {
  db = await createTestDatabase('ferry_jobs');
  ds = createDataSource({ url: db.url });
  await runMigrations(ds);
  store = new TypeOrmJobStore(ds);
});

afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

async function waitDone(id: string): Promise<JobRecord> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const j = await store.get(id);
    if (j && ['succeeded', 'failed', 'cancelled'].includes(j.state)) return j;
    if (Date.now() > deadline) throw new Error(`job ${id} not finished: ${j?.state}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('TypeOrmJobStore', () => {
  it('creates a queued row and answers the existing one for a taken idempotency key, also when racing', async () => {
    const key = `k-${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 8 }, () => store.create({ type: 'format', params: { fsid: '5' }, idempotencyKey: key, createdBy: 'admin' })),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.job.id)).size).toBe(1);
    const job = results[0]!.job;
    expect(job).toMatchObject({ type: 'format', params: { fsid: '5' }, state: 'queued', progress: 0, attempts: 0, cancelRequested: false, createdBy: 'admin' });
    expect(job.createdAt).toBeInstanceOf(Date);
    expect((await store.findByIdempotencyKey(key))?.id).toBe(job.id);
    const other = await store.create({ type: 'scrub', params: {} });
    expect(other.created).toBe(true);
    expect(other.job.id).not.toBe(job.id);
  });

  it('updates only from the given states, and round-trips progress, detail and result', async () => {
    const { job } = await store.create({ type: 'scrub', params: {} });
    expect(await store.update(job.id, { state: 'succeeded' }, ['running'])).toBe(false);
    expect(await store.update(job.id, { state: 'running', attempts: 1, startedAt: new Date() }, ['queued', 'running'])).toBe(true);
    expect(await store.update(job.id, { progress: 0.25, detail: { done: 1, total: 4 } }, ['running'])).toBe(true);
    expect(await store.update(job.id, { state: 'succeeded', progress: 1, result: 'ok' }, ['running'])).toBe(true);
    expect(await store.update(job.id, { state: 'cancelled' }, ['queued', 'running'])).toBe(false);
    const row = await store.get(job.id);
    expect(row).toMatchObject({ state: 'succeeded', progress: 1, detail: { done: 1, total: 4 }, result: 'ok', attempts: 1 });
    expect(await store.get('not-a-uuid')).toBeUndefined();
    expect(await store.update('not-a-uuid', { progress: 1 })).toBe(false);
    expect(await store.get(randomUUID())).toBeUndefined();
    const live = await store.listByState(['running', 'queued']);
    expect(live.map((j) => j.id)).not.toContain(job.id);
  });

  const queues: Array<[string, () => JobQueue, () => Promise<void>]> = [];
  const bullName = `jobs-${randomUUID()}`;
  queues.push(['InProcessJobQueue', () => new InProcessJobQueue(store, { logger: quiet }), async () => undefined]);
  queues.push([
    'BullJobQueue',
    () => new BullJobQueue(store, { redisUrl: REDIS_URL, queueName: bullName, prefix: 'ferrytest', cancelPollMs: 200, logger: quiet }),
    async () => {
      const q = new Queue(bullName, { connection: { url: REDIS_URL }, prefix: 'ferrytest' });
      await q.obliterate({ force: true });
      await q.close();
    },
  ]);

  it.each(queues)('%s runs, fails and cancels jobs on it', async (_name, make, cleanup) => {
    const q = make();
    try {
      q.register({
        type: 'count',
        run: async (ctx) => {
          const n = (ctx.params as { n: number }).n;
          for (let i = 1; i <= n; i++) ctx.progress(i, n, { step: i });
          if (n < 0) throw new Error('negative');
          return { counted: n };
        },
      });
      q.register({
        type: 'wait',
        run: (ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true })),
      });
      await q.start();
      const ok = await waitDone(await q.enqueue('count', { n: 3 }));
      expect(ok).toMatchObject({ state: 'succeeded', progress: 1, result: { counted: 3 }, attempts: 1 });
      const bad = await waitDone(await q.enqueue('count', { n: -1 }));
      expect(bad).toMatchObject({ state: 'failed', error: 'negative' });
      const waiting = await q.enqueue('wait', {});
      for (let i = 0; (await store.get(waiting))?.state !== 'running'; i++) {
        if (i > 400) throw new Error('wait job never ran');
        await new Promise((r) => setTimeout(r, 25));
      }
      await q.cancel(waiting);
      expect(await waitDone(waiting)).toMatchObject({ state: 'cancelled', cancelRequested: true });
    } finally {
      await q.close({ abandonRunning: true });
      await cleanup();
    }
  });
});
