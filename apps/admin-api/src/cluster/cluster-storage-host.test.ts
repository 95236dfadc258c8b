/**
 * Goal: the cluster admin-api's scrub and fsck go to the filesystem's owner and pass its report
 * on, and are refused with a clear 503 when they cannot be asked (no event bus) or the answer is
 * not a report; pool figures re-read the slice headers at most once per interval, however many
 * callers ask, and a failed re-read is not kept; GET /filesystems shows the usage the owner reported, with its age, only while that
 * owner serves it, and blank otherwise. Method: ClusterStorageHost with a MaintenanceClient on the
 * in-process bus and a stand-in owner that answers the requests; for usage, the admin API (the
 * test harness) on the real PostgreSQL with leases and reports written by LeaseStore.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlError, ControlErrorCode, InProcessEventBus, LeaseStore, MaintenanceClient, MaintenanceServer, pgPool, type Queryable, type StorageHost } from '@ferry/control';
import type { Pool } from '@ferry/pool';
import type { MoverStorageHost } from '../../../data-mover/src/storage-host';
import { FakeStorageHost, startHarness, type Harness } from '../testing/harness';
import { ClusterStorageHost } from './cluster-storage-host';

const silent = { info: () => undefined, warn: () => undefined };

function hostWith(answer: { scrub?: unknown; fsck?: unknown } | undefined): StorageHost {
  const none = {} as unknown;
  if (!answer) return new ClusterStorageHost({ host: none as MoverStorageHost, pool: none as Pool, db: { query: async () => [] } });
  const bus = new InProcessEventBus();
  new MaintenanceServer({
    events: bus,
    moverId: 'm-1',
    logger: silent,
    work: { owns: () => true, scrub: async (_f, p) => (p(1, 1), answer.scrub), fsck: async () => answer.fsck },
  }).start();
  const maintenance = new MaintenanceClient({ events: bus, owner: async () => ({ moverId: 'm-1', moverName: 'm1', epoch: '1' }), ownerWaitMs: 200, acceptTimeoutMs: 100 });
  return new ClusterStorageHost({ host: none as MoverStorageHost, pool: none as Pool, db: { query: async () => [] }, maintenance });
}

describe('ClusterStorageHost scrub and fsck', () => {
  it('passes the owner reports on', async () => {
    const scrub = { blocksChecked: 3, bytesChecked: 12288, damaged: [], damagedCount: 0, pagesChecked: 5 };
    const fsck = { clean: true, problems: [], counts: { inodes: 2 } };
    const host = hostWith({ scrub, fsck });
    const seen: number[] = [];
    expect(await host.scrub(5n, (d) => seen.push(d), new AbortController().signal)).toEqual(scrub);
    expect(seen).toEqual([1]);
    expect(await host.fsck(5n, () => undefined, new AbortController().signal)).toEqual(fsck);
  });

  it('refuses an answer that is not a report', async () => {
    const host = hostWith({ scrub: { nonsense: true }, fsck: null });
    await expect(host.scrub(5n, () => undefined, new AbortController().signal)).rejects.toThrow(/the owner sent no report/);
    await expect(host.fsck(5n, () => undefined, new AbortController().signal)).rejects.toThrow(/the owner sent no report/);
  });

  it('answers 503 without an event bus to ask the owner', async () => {
    const host = hostWith(undefined);
    const err = await host.scrub(5n, () => undefined, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
    expect((err as ControlError).code).toBe(ControlErrorCode.Unavailable);
    expect((err as ControlError).message).toMatch(/needs REDIS_URL/);
    await expect(host.fsck(5n, () => undefined, new AbortController().signal)).rejects.toThrow(/needs REDIS_URL/);
    await expect(host.addDevice('/x', 1)).rejects.toThrow(/not supported/);
  });
});

describe('ClusterStorageHost pool figures', () => {
  // A pool double that counts re-reads; each waits for the test to let it finish (or fail).
  function countingPool() {
    const runs: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
    const pool = { refresh: () => new Promise<void>((resolve, reject) => runs.push({ resolve, reject })) } as unknown as Pool;
    return { pool, runs };
  }
  const info = { poolId: 'p', sliceBytes: 1, totalSlices: 4, freeSlices: 2, devices: [] };
  const mover = { poolInfo: async () => info } as unknown as MoverStorageHost;

  it('re-reads the slice headers at most once per interval, shared by every caller meanwhile', async () => {
    const { pool, runs } = countingPool();
    let now = 1_000;
    const host = new ClusterStorageHost({ host: mover, pool, db: { query: async () => [] }, poolRefreshMs: 2000, clock: () => now });
    const first = Array.from({ length: 10 }, () => host.poolInfo());
    expect(runs).toHaveLength(1); // ten concurrent callers, one re-read
    runs[0]!.resolve();
    expect(await Promise.all(first)).toEqual(Array(10).fill(info));
    now += 1999;
    expect(await host.poolInfo()).toEqual(info);
    expect(runs).toHaveLength(1); // within the interval: the last re-read stands
    now += 1;
    const later = host.poolInfo();
    expect(runs).toHaveLength(2);
    runs[1]!.resolve();
    expect(await later).toEqual(info);
  });

  it('keeps no failed re-read: its callers get the error and the next call tries again', async () => {
    const { pool, runs } = countingPool();
    const host = new ClusterStorageHost({ host: mover, pool, db: { query: async () => [] }, clock: () => 5_000 });
    const a = host.poolInfo();
    const b = host.poolInfo();
    runs[0]!.reject(new Error('device gone'));
    await expect(a).rejects.toThrow('device gone');
    await expect(b).rejects.toThrow('device gone');
    const c = host.poolInfo();
    expect(runs).toHaveLength(2);
    runs[1]!.resolve();
    expect(await c).toEqual(info);
  });
});

describe('ClusterStorageHost usage in the admin API', () => {
  let h: Harness;
  let db: Queryable & { end(): Promise<void> };
  const GiB = 2 ** 30;
  const get = (path: string) => request(h.server).get(`/api/v1${path}`).set('Authorization', `Bearer ${h.adminToken}`).expect(200);

  beforeAll(async () => {
    // Reads go through the harness's own connection (created with it); pool info through the double.
    const reads: Queryable = { query: (sql, params) => h.ds.query(sql, params) };
    const host = new ClusterStorageHost({ host: new FakeStorageHost() as unknown as MoverStorageHost, pool: { refresh: async () => undefined } as unknown as Pool, db: reads });
    h = await startHarness({ storageHost: host });
    db = await pgPool(h.db.url);
  });
  afterAll(async () => {
    await db?.end();
    await h?.close();
  });

  it('shows the serving owner\'s figures with their age, and blank once nobody serves the filesystem', async () => {
    const [pool] = await db.query(`SELECT id FROM pools LIMIT 1`);
    const [fs] = await db.query(`INSERT INTO filesystems (name, fsid, pool_id, size_bytes, state) VALUES ('data', 42, $1, $2, 'ready') RETURNING id`, [pool.id, 10 * GiB]);
    expect((await get(`/filesystems/${fs.id}`)).body.usage).toBeNull(); // no lease, no report
    const store = new LeaseStore(db, { leaseMs: 60_000 });
    const m = await store.registerMover({ name: 'm1', address: '127.0.0.1', nfsPort: 1, httpPort: 2 });
    await db.query(`INSERT INTO fs_leases (filesystem_id, fsid, assigned_mover_id) VALUES ($1, 42, $2)`, [fs.id, m]);
    const epoch = (await store.acquire(m, 42n))!;
    await store.setServing(m, 42n, epoch, true);
    const figures = { sizeBytes: 10 * GiB, usedBytes: 5 * 2 ** 20, freeBytes: 10 * GiB - 5 * 2 ** 20, files: 4, freeFiles: 10_000 };
    await store.tick(m, [{ fsid: 42n, epoch }], { freshMs: 60_000, reports: [{ fsid: 42n, epoch, usage: figures, ageMs: 1500 }] });

    const one = (await get(`/filesystems/${fs.id}`)).body;
    expect(one.usage).toMatchObject(figures);
    expect(one.usage.ageMs).toBeGreaterThanOrEqual(1500);
    expect(one.usage.ageMs).toBeLessThan(10_000);
    expect(Date.now() - Date.parse(one.usage.measuredAt)).toBeGreaterThanOrEqual(1000);
    const list = (await get('/filesystems')).body;
    expect(list.items.find((f: { name: string }) => f.name === 'data').usage).toMatchObject({ usedBytes: 5 * 2 ** 20 });

    // Handed over (released): the figure is only a last known one now, so the API shows none.
    expect(await store.release(m, 42n, epoch)).toBe(true);
    expect((await db.query(`SELECT used_bytes::int AS used FROM fs_usage`))[0].used).toBe(5 * 2 ** 20);
    expect((await get(`/filesystems/${fs.id}`)).body.usage).toBeNull();
  });
});
