/**
 * Goal: a scrub or fsck asked of a filesystem's owner either returns the owner's report or fails
 * with a clear reason within bounded time, whatever happens to the owner meanwhile.
 * Method: MaintenanceClient and MaintenanceServer over the in-process event bus, with a lease
 * table the test changes (no owner, owner appears, moves, dies) and work it controls; timeouts
 * are shortened to milliseconds. servingOwner's SQL runs on the real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlError, ControlErrorCode } from '../errors';
import { InProcessEventBus, type EventBus } from '../events';
import type { Progress } from '../storage-host';
import { createDataSource, runMigrations } from '../data-source';
import { createTestDatabase, type TestDatabase } from '../testing/test-database';
import { pgPool, type Queryable } from './lease-store';
import { MAINTENANCE_TOPICS, MaintenanceClient, MaintenanceServer, servingOwner, type LeaseOwner, type MaintenanceWork } from './maintenance';

const silent = { info: () => undefined, warn: () => undefined };
const FAST = { ownerWaitMs: 400, acceptTimeoutMs: 100, silenceTimeoutMs: 300, checkEveryMs: 20 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Work whose scrub and fsck the test finishes by hand (or that finish at once). */
class FakeWork implements MaintenanceWork {
  ownedEpoch: bigint | undefined = 7n;
  calls: string[] = [];
  aborted: unknown[] = [];
  hang = false;
  owns(_fsid: bigint, epoch: bigint): boolean {
    return this.ownedEpoch === epoch;
  }
  scrub(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<unknown> {
    return this.work('scrub', fsid, progress, signal);
  }
  fsck(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<unknown> {
    return this.work('fsck', fsid, progress, signal);
  }
  private async work(kind: string, fsid: bigint, progress: Progress, signal: AbortSignal): Promise<unknown> {
    this.calls.push(`${kind} ${fsid}`);
    progress(1, 2, { step: 'half' });
    if (this.hang) {
      await new Promise((_r, reject) => signal.addEventListener('abort', () => (this.aborted.push(signal.reason), reject(signal.reason)), { once: true }));
    }
    progress(2, 2);
    return { kind, clean: true };
  }
}

function setup(opts: { owner?: LeaseOwner; serverBus?: EventBus; aliveEveryMs?: number } = {}) {
  const bus = new InProcessEventBus();
  const lease: { owner: LeaseOwner | undefined } = { owner: 'owner' in opts ? opts.owner : { moverId: 'm-1', moverName: 'm1', epoch: '7' } };
  const client = new MaintenanceClient({ events: bus, owner: async () => lease.owner, ...FAST });
  const work = new FakeWork();
  const server = new MaintenanceServer({ events: opts.serverBus ?? bus, moverId: 'm-1', work, logger: silent, aliveEveryMs: opts.aliveEveryMs ?? 50, progressEveryMs: 0 });
  server.start();
  const progress: Array<[number, number]> = [];
  const onProgress: Progress = (d, t) => progress.push([d, t]);
  return { bus, lease, client, work, server, progress, onProgress };
}

async function failure(p: Promise<unknown>): Promise<ControlError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ControlError);
  return err as ControlError;
}

describe('MaintenanceClient and MaintenanceServer', () => {
  it('runs a scrub on the owner, forwards its progress and returns its report', async () => {
    const s = setup();
    const r = await s.client.run('scrub', 42n, s.onProgress, new AbortController().signal);
    expect(r).toEqual({ kind: 'scrub', clean: true });
    expect(s.work.calls).toEqual(['scrub 42']);
    expect(s.progress).toEqual([
      [1, 2],
      [2, 2],
    ]);
  });

  it('runs an fsck the same way', async () => {
    const s = setup();
    expect(await s.client.run('fsck', 9n, s.onProgress, new AbortController().signal)).toEqual({ kind: 'fsck', clean: true });
  });

  it('waits a bounded time for an owner, then fails as unavailable', async () => {
    const s = setup({ owner: undefined });
    const t0 = Date.now();
    const err = await failure(s.client.run('scrub', 42n, s.onProgress, new AbortController().signal));
    expect(err.code).toBe(ControlErrorCode.Unavailable);
    expect(err.message).toMatch(/no owner took the request within .*no data mover serves it/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(FAST.ownerWaitMs - 20);
    expect(Date.now() - t0).toBeLessThan(FAST.ownerWaitMs + 1000);
    expect(s.work.calls).toEqual([]);
  });

  it('uses an owner that appears while it waits', async () => {
    const s = setup({ owner: undefined });
    setTimeout(() => (s.lease.owner = { moverId: 'm-1', moverName: 'm1', epoch: '7' }), 150);
    expect(await s.client.run('scrub', 42n, s.onProgress, new AbortController().signal)).toEqual({ kind: 'scrub', clean: true });
  });

  it('looks the owner up again when the mover it asked does not hold that lease', async () => {
    const s = setup({ owner: { moverId: 'm-1', moverName: 'm1', epoch: '6' } }); // stale epoch
    setTimeout(() => (s.lease.owner = { moverId: 'm-1', moverName: 'm1', epoch: '7' }), 100);
    expect(await s.client.run('scrub', 42n, s.onProgress, new AbortController().signal)).toEqual({ kind: 'scrub', clean: true });
    const never = setup({ owner: { moverId: 'm-1', moverName: 'm1', epoch: '6' } });
    const err = await failure(never.client.run('scrub', 42n, never.onProgress, new AbortController().signal));
    expect(err.message).toMatch(/does not serve filesystem 42 under epoch 6/);
    expect(never.work.calls).toEqual([]);
  });

  it('retries a request nobody accepted (lost, or no mover of that id), then fails', async () => {
    const s = setup({ owner: { moverId: 'm-gone', moverName: 'gone', epoch: '7' } });
    const err = await failure(s.client.run('scrub', 42n, s.onProgress, new AbortController().signal));
    expect(err.code).toBe(ControlErrorCode.Unavailable);
    expect(err.message).toMatch(/mover gone \(epoch 7\) did not answer/);
  });

  it('fails at once when the owner dies mid-run (its lease runs out), and tells it to stop', async () => {
    const s = setup();
    s.work.hang = true;
    const run = s.client.run('scrub', 42n, s.onProgress, new AbortController().signal);
    await sleep(50);
    s.lease.owner = undefined;
    const err = await failure(run);
    expect(err.code).toBe(ControlErrorCode.Unavailable);
    expect(err.message).toMatch(/mover m1 \(epoch 7\) no longer serves it/);
    await sleep(20);
    expect(s.work.aborted).toHaveLength(1); // the cancel reached the (here still living) owner
  });

  it('fails when the filesystem moves to another mover mid-run', async () => {
    const s = setup();
    s.work.hang = true;
    const run = s.client.run('fsck', 42n, s.onProgress, new AbortController().signal);
    await sleep(50);
    s.lease.owner = { moverId: 'm-2', moverName: 'm2', epoch: '8' };
    const err = await failure(run);
    expect(err.message).toMatch(/moved from mover m1 \(epoch 7\) to mover m2 \(epoch 8\)/);
  });

  it('fails when a running owner falls silent although its lease looks alive', async () => {
    // The server's updates after `accepted` are lost: its bus drops them.
    const bus = new InProcessEventBus();
    let sent = 0;
    const lossy: EventBus = {
      publish: (topic, payload) => (topic === MAINTENANCE_TOPICS.update && sent++ > 0 ? Promise.resolve() : bus.publish(topic, payload)),
      subscribe: (topic, h) => bus.subscribe(topic, h),
    };
    const client = new MaintenanceClient({ events: bus, owner: async () => ({ moverId: 'm-1', moverName: 'm1', epoch: '7' }), ...FAST });
    const work = new FakeWork();
    work.hang = true;
    new MaintenanceServer({ events: lossy, moverId: 'm-1', work, logger: silent, aliveEveryMs: 50 }).start();
    const t0 = Date.now();
    const err = await failure(client.run('scrub', 42n, () => undefined, new AbortController().signal));
    expect(err.message).toMatch(/no word from mover m1/);
    expect(Date.now() - t0).toBeLessThan(FAST.silenceTimeoutMs + 1000);
  });

  it('keeps a long run going while the owner says it is alive', async () => {
    const s = setup({ aliveEveryMs: 50 });
    s.work.hang = true;
    const ac = new AbortController();
    const run = s.client.run('scrub', 42n, s.onProgress, ac.signal);
    await sleep(FAST.silenceTimeoutMs * 3);
    ac.abort(new Error('job cancelled'));
    await expect(run).rejects.toThrow('job cancelled');
    await sleep(20);
    expect(String(s.work.aborted[0])).toMatch(/cancelled by the admin-api/);
  });

  it('reports the owner failure with its code', async () => {
    const s = setup();
    s.work.scrub = () => Promise.reject(new ControlError(ControlErrorCode.Conflict, 'filesystem 42 is offline for fsck'));
    const err = await failure(s.client.run('scrub', 42n, s.onProgress, new AbortController().signal));
    expect(err.code).toBe(ControlErrorCode.Conflict);
    expect(err.message).toBe('scrub of filesystem 42 on mover m1: filesystem 42 is offline for fsck');
  });

  it('a newer request for the same filesystem supersedes one whose asker is gone', async () => {
    const s = setup();
    s.work.hang = true;
    const ac = new AbortController();
    const first = s.client.run('scrub', 42n, s.onProgress, ac.signal);
    first.catch(() => undefined);
    await sleep(30);
    s.work.hang = false;
    expect(await s.client.run('fsck', 42n, s.onProgress, new AbortController().signal)).toEqual({ kind: 'fsck', clean: true });
    const err = await failure(first);
    expect(err.code).toBe(ControlErrorCode.Conflict);
    expect(err.message).toMatch(/superseded by a newer request for filesystem 42/);
    expect(s.work.calls).toEqual(['scrub 42', 'fsck 42']); // one after the other, never side by side
  });

  it('a stopping mover aborts what runs and rejects new requests', async () => {
    const s = setup();
    s.work.hang = true;
    const run = s.client.run('scrub', 42n, s.onProgress, new AbortController().signal);
    await sleep(30);
    await s.server.stop();
    const err = await failure(run);
    expect(err.message).toMatch(/the data mover is stopping/);
  });
});

describe('servingOwner on PostgreSQL', () => {
  let db: TestDatabase;
  let q: Queryable & { end(): Promise<void> };

  beforeAll(async () => {
    db = await createTestDatabase('ferry_maint');
    const ds = createDataSource({ url: db.url });
    await ds.initialize();
    await runMigrations(ds);
    await ds.destroy();
    q = await pgPool(db.url);
  });
  afterAll(async () => {
    await q?.end();
    await db?.drop();
  });

  it('names the holder of a serving, unexpired lease only', async () => {
    const [m] = await q.query(`INSERT INTO movers (name, address, nfs_port, http_port) VALUES ('m1', '127.0.0.1', 1, 2) RETURNING id`);
    const [pool] = await q.query(`INSERT INTO pools (name, slice_bytes) VALUES ('p', 268435456) RETURNING id`);
    const [f] = await q.query(`INSERT INTO filesystems (name, fsid, pool_id, size_bytes, state) VALUES ('f1', 77, $1, 1073741824, 'ready') RETURNING id`, [pool.id]);
    await q.query(`INSERT INTO fs_leases (filesystem_id, fsid) VALUES ($1, 77)`, [f.id]);
    const set = (sql: string) => q.query(`UPDATE fs_leases SET ${sql} WHERE fsid = 77`);
    expect(await servingOwner(q, 77n)).toBeUndefined();
    await set(`owner_mover_id = '${m.id}', epoch = 3, serving = true, expires_at = now() + interval '5 seconds'`);
    expect(await servingOwner(q, 77n)).toEqual({ moverId: m.id, moverName: 'm1', epoch: '3' });
    await set(`serving = false`);
    expect(await servingOwner(q, 77n)).toBeUndefined();
    await set(`serving = true, expires_at = now() - interval '1 second'`);
    expect(await servingOwner(q, 77n)).toBeUndefined();
  });
});
