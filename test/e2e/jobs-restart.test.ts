// Goal: a scrub job survives the restart of the process running it: stopped with SIGTERM (the job
// is handed back) or killed with SIGKILL (BullMQ's stalled-job recovery; the orphaned embedded
// PostgreSQL is taken over), with Redis or with the in-process queue, the job runs again at the
// next start, its progress shows through the REST API, and it ends `succeeded` with nothing damaged.
// Method: the built embedded process (FERRY_MAIN) with FERRY_SCRUB_RATE=16M, so scrubbing the
// ~96 MiB written through libnfs (nfs-cp) takes seconds; the job is started and polled over the
// REST API, the process is restarted mid-job, and the job is polled until it ends. Redis is the
// real one at 127.0.0.1:6379 in an empty logical database of its own (the embedded start has no
// setting for its BullMQ prefix or queue name), whose keys are removed at the end.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import IORedis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MoverProcess } from '../support/mover-process';
import { FERRY_MAIN } from '../support/paths';

const MiB = 1024 * 1024;
const FILES = 6;
const FILE_BYTES = 16 * MiB;
const DATA_BYTES = FILES * FILE_BYTES;
/** Slow enough that the scrub of DATA_BYTES (~6 s) can be watched and interrupted. */
const SCRUB_RATE = '16M';
const REDIS_BASE = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** BullMQ keys of the embedded start (libs/control BullJobQueue defaults: prefix `ferry`). */
const BULL_KEYS = 'ferry:*';

interface JobDoc {
  id: string;
  state: string;
  progress: number;
  detail: Record<string, unknown> | null;
  result: { clean?: boolean; damagedCount?: number; damaged?: unknown[]; bytesChecked?: number; blocksChecked?: number } | null;
  error: string | null;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A logical Redis database holding no keys, so this file's BullMQ queue meets no other. */
async function emptyRedisDb(): Promise<number> {
  for (let db = 15; db >= 1; db--) {
    const r = new IORedis(`${REDIS_BASE.replace(/\/\d*$/, '')}/${db}`, { maxRetriesPerRequest: 1 });
    try {
      if ((await r.dbsize()) === 0) return db;
    } finally {
      await r.quit();
    }
  }
  throw new Error(`no empty logical database on ${REDIS_BASE}`);
}

async function dropBullKeys(url: string): Promise<void> {
  const r = new IORedis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', BULL_KEYS, 'COUNT', 1000);
      if (keys.length > 0) await r.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await r.quit();
  }
}

/** A postgres left behind by a process this file killed (when a test fails before the restart). */
function stopOrphanedPostgres(dataDir: string): void {
  const pidFile = join(dataDir, 'db', 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir)) return;
    process.kill(pid, 'SIGTERM');
  } catch {
    // gone already
  }
}

describe('a scrub job across a restart of the embedded process', () => {
  const work = mkdtempSync(join(tmpdir(), 'ferry-jobs-'));
  const files = Array.from({ length: FILES }, (_, i) => {
    const path = join(work, `f${i}.bin`);
    writeFileSync(path, randomBytes(FILE_BYTES));
    return path;
  });
  let redisUrl = '';
  const running: MoverProcess[] = [];

  beforeAll(async () => {
    redisUrl = `${REDIS_BASE.replace(/\/\d*$/, '')}/${await emptyRedisDb()}`;
  });
  afterEach(async () => {
    for (const m of running.splice(0)) {
      if (m.child && m.child.exitCode === null && m.child.signalCode === null) await m.stop();
      else stopOrphanedPostgres(m.dataDir);
      rmSync(m.dataDir, { recursive: true, force: true });
    }
  });
  afterAll(async () => {
    rmSync(work, { recursive: true, force: true });
    if (redisUrl) await dropBullKeys(redisUrl);
  });

  async function start(env: Record<string, string>): Promise<MoverProcess> {
    const m = await MoverProcess.start({
      entry: FERRY_MAIN,
      // Empty URLs mean "not set" (embedded PostgreSQL, in-process queue) whatever this process has.
      env: { DATABASE_URL: '', REDIS_URL: '', FERRY_SCRUB_RATE: SCRUB_RATE, FERRY_MOVER_NAME: `jobs-${randomBytes(4).toString('hex')}`, ...env },
    });
    running.push(m);
    return m;
  }

  async function api<T>(m: MoverProcess, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    const res = await fetch(`${m.apiUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${m.adminToken()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as T };
  }

  /** Writes the data through NFS and starts a scrub of the default filesystem; the job's id. */
  async function fillAndScrub(m: MoverProcess): Promise<string> {
    for (const [i, f] of files.entries()) {
      const cp = spawnSync('nfs-cp', [f, m.url(`/export/f${i}.bin`)], { encoding: 'utf8', timeout: 60_000 });
      expect(cp.status, `nfs-cp: ${cp.stderr}\n${m.logTail()}`).toBe(0);
    }
    const fsList = await api<{ items: Array<{ id: string; name: string }> }>(m, 'GET', '/filesystems');
    const fs = fsList.json.items.find((f) => f.name === 'default');
    expect(fs, JSON.stringify(fsList.json)).toBeDefined();
    const created = await api<JobDoc>(m, 'POST', '/jobs', { type: 'scrub', filesystemId: fs!.id });
    expect(created.status, JSON.stringify(created.json)).toBe(202);
    return created.json.id;
  }

  async function job(m: MoverProcess, id: string): Promise<JobDoc> {
    const r = await api<JobDoc>(m, 'GET', `/jobs/${id}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return r.json;
  }

  /** Polls until the running job reports progress strictly between 0 and 1. */
  async function untilMidway(m: MoverProcess, id: string): Promise<JobDoc> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const j = await job(m, id);
      if (j.state === 'running' && j.progress > 0 && j.progress < 1) return j;
      if (j.state !== 'queued' && j.state !== 'running') throw new Error(`job ended before it could be interrupted: ${JSON.stringify(j)}`);
      if (Date.now() > deadline) throw new Error(`no progress within 30 s: ${JSON.stringify(j)}\n${m.logTail()}`);
      await sleep(50);
    }
  }

  /** Polls until the job ends; every progress value seen while it ran again, and the last state. */
  async function untilDone(m: MoverProcess, id: string, timeoutMs: number): Promise<{ last: JobDoc; seen: number[] }> {
    const deadline = Date.now() + timeoutMs;
    const seen: number[] = [];
    for (;;) {
      const j = await job(m, id);
      if (j.state === 'running') seen.push(j.progress);
      if (j.state !== 'queued' && j.state !== 'running') return { last: j, seen };
      if (Date.now() > deadline) throw new Error(`job not done within ${timeoutMs} ms: ${JSON.stringify(j)}\n${m.logTail()}`);
      await sleep(100);
    }
  }

  /** The job ran again after `since` and finished with every byte checked and nothing damaged. */
  function expectRerunClean(before: JobDoc, after: JobDoc, since: number): void {
    expect(after.state, JSON.stringify(after)).toBe('succeeded');
    expect(after.progress).toBe(1);
    // `startedAt` is written when a run claims the job, and `attempts` counts the runs.
    expect(before.attempts).toBe(1);
    expect(after.attempts).toBeGreaterThanOrEqual(2);
    expect(Date.parse(after.startedAt!)).toBeGreaterThan(Date.parse(before.startedAt!));
    expect(Date.parse(after.startedAt!)).toBeGreaterThanOrEqual(since);
    expect(after.result).toMatchObject({ clean: true, damagedCount: 0, damaged: [] });
    expect(after.result!.bytesChecked).toBeGreaterThanOrEqual(DATA_BYTES);
  }

  it('with Redis: SIGTERM hands the running scrub back and the next start finishes it', async () => {
    const m = await start({ REDIS_URL: redisUrl });
    const id = await fillAndScrub(m);
    const midway = await untilMidway(m, id);
    const stoppedAt = Date.now();
    expect(await m.stop()).toBe(0);
    await m.spawn(); // the same data directory, ports and settings
    const { last, seen } = await untilDone(m, id, 90_000);
    expectRerunClean(midway, last, stoppedAt);
    // The second run reported its own progress through the API, starting over.
    expect(seen.some((p) => p < midway.progress), `progress seen: ${seen.join(' ')}`).toBe(true);
  });

  it('with Redis: after SIGKILL the stalled scrub is recovered and finishes', async () => {
    const m = await start({ REDIS_URL: redisUrl });
    const id = await fillAndScrub(m);
    const midway = await untilMidway(m, id);
    const killedAt = Date.now();
    await m.kill9();
    // The killed process's embedded PostgreSQL still runs; the new start takes it over.
    await m.spawn();
    // BullMQ: the dead worker's lock (10 s) lapses, a stalled check (every 5 s) requeues the job.
    const { last } = await untilDone(m, id, 120_000);
    expectRerunClean(midway, last, killedAt);
  });

  it('without Redis: a scrub interrupted by SIGTERM runs again at the next start', async () => {
    const m = await start({});
    const id = await fillAndScrub(m);
    const midway = await untilMidway(m, id);
    const stoppedAt = Date.now();
    expect(await m.stop()).toBe(0);
    await m.spawn();
    const { last } = await untilDone(m, id, 90_000);
    expectRerunClean(midway, last, stoppedAt);
  });
});
