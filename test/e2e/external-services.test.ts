// Goal: the embedded start runs on an external PostgreSQL (DATABASE_URL) and Redis (REDIS_URL):
// no embedded database is made, the migrations apply to the given one, a format job runs on
// BullMQ, and export changes travel as Redis events and reach the mover within one second.
// Method: the built process (FERRY_MAIN) against a fresh database of the machine's PostgreSQL and
// an empty logical database of its Redis; the REST API drives it; a separate Redis connection
// watches the event channels; libnfs (nfs-ls) plays the client whose access changes.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import IORedis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../libs/control/src/testing/test-database';
import { MoverProcess } from '../support/mover-process';
import { FERRY_MAIN } from '../support/paths';

const REDIS_BASE = (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function emptyRedisDb(): Promise<string> {
  for (let db = 13; db >= 1; db--) {
    const r = new IORedis(`${REDIS_BASE}/${db}`, { maxRetriesPerRequest: 1 });
    try {
      if ((await r.dbsize()) === 0) return `${REDIS_BASE}/${db}`;
    } finally {
      await r.quit();
    }
  }
  throw new Error(`no empty logical database on ${REDIS_BASE}`);
}

describe('embedded start on an external PostgreSQL and Redis', () => {
  let db: TestDatabase;
  let redisUrl: string;
  let ferry: MoverProcess;
  let watcher: IORedis;
  const events: Array<{ channel: string; at: number }> = [];
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${ferry.apiUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ferry.adminToken()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  const ls = (path: string) => spawnSync('nfs-ls', [ferry.url(path)], { encoding: 'utf8', timeout: 20_000 });
  /** Polls until nfs-ls of `path` succeeds (or fails), answering the milliseconds it took. */
  async function until(path: string, ok: boolean, limitMs: number): Promise<number> {
    const t0 = Date.now();
    while (Date.now() - t0 < limitMs) {
      if ((ls(path).status === 0) === ok) return Date.now() - t0;
      await sleep(50);
    }
    throw new Error(`nfs-ls ${path} did not ${ok ? 'succeed' : 'fail'} within ${limitMs} ms; log:\n${ferry.logTail()}`);
  }

  beforeAll(async () => {
    db = await createTestDatabase('ferry_e2e');
    redisUrl = await emptyRedisDb();
    watcher = new IORedis(redisUrl, { maxRetriesPerRequest: 1 });
    await watcher.psubscribe('ferry.events.*');
    watcher.on('pmessage', (_p, channel) => events.push({ channel, at: Date.now() }));
    ferry = await MoverProcess.start({ entry: FERRY_MAIN, env: { DATABASE_URL: db.url, REDIS_URL: redisUrl, FERRY_POOL_SIZE: '4G', FERRY_MOVER_NAME: 'ext-mover' } });
  });

  afterAll(async () => {
    if (ferry) expect(await ferry.stop()).toBe(0);
    await watcher?.quit();
    if (redisUrl) {
      const r = new IORedis(redisUrl, { maxRetriesPerRequest: 1 });
      await r.flushdb();
      await r.quit();
    }
    await db?.drop();
  });

  it('uses the given database and Redis, not an embedded one', async () => {
    expect(existsSync(join(ferry.dataDir, 'db'))).toBe(false);
    const status = await api('GET', '/status');
    expect(status.status).toBe(200);
    expect(status.json.redis).toMatchObject({ configured: true, ok: true });
    expect(status.json.movers).toMatchObject({ total: 1, healthy: 1 });
    const ready = await fetch(`${ferry.apiUrl}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('formats a filesystem on BullMQ and applies export changes from Redis events within a second', async () => {
    const created = await api('POST', '/filesystems', { name: 'ext', sizeBytes: 1024 ** 3 });
    expect(created.status, JSON.stringify(created.json)).toBe(202);
    const fs = created.json.filesystem as { id: string };
    const job = created.json.job as { id: string };
    let state = '';
    for (let i = 0; i < 300 && !['succeeded', 'failed', 'cancelled'].includes(state); i++) {
      await sleep(100);
      state = (await api('GET', `/jobs/${job.id}`)).json.state as string;
    }
    expect(state).toBe('succeeded');
    const r = new IORedis(redisUrl, { maxRetriesPerRequest: 1 });
    const bullKeys = await r.keys('ferry:*');
    await r.quit();
    expect(bullKeys.length).toBeGreaterThan(0); // the job went through BullMQ in this Redis

    expect(ls('/ext').status).not.toBe(0); // not exported yet
    const before = events.length;
    const exp = await api('POST', '/exports', { filesystemId: fs.id, path: '/ext', clients: ['127.0.0.1'], secure: false, rootSquash: false });
    expect(exp.status, JSON.stringify(exp.json)).toBe(201);
    const admitted = await until('/ext', true, 1000);
    expect(events.slice(before).some((e) => e.channel.endsWith('exports.changed'))).toBe(true);

    const narrowed = await api('PATCH', `/exports/${(exp.json as { id: string }).id}`, { clients: ['10.9.9.9'] });
    expect(narrowed.status).toBe(200);
    const refused = await until('/ext', false, 1000);
    process.stdout.write(`export added -> mount works after ${admitted} ms; narrowed -> refused after ${refused} ms\n`);
  });
});
