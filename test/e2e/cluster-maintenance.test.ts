/**
 * Goal: in a cluster, the admin API's scrub and fsck jobs run on the mover that owns the
 * filesystem and report clean results, data reads back after them, a cancelled job stops the
 * work on the owner, and a job whose owner moves the filesystem, dies, or does not exist fails
 * within bounded time with a reason that says so.
 * Method: real processes (test/support/cluster.ts): PostgreSQL, Redis, the cluster admin-api, two
 * movers with a 2 s lease and scrubs slowed to 1 MiB/s (so a test can act while one runs), one
 * director; data written and read back through the director with the test's NFSv3 client;
 * scrub and fsck through the REST API, the owner read from fs_leases and its log.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, DIRECTOR_MAIN, type LeaseRow } from '../support/cluster';
import { Nfs3Client, Stable } from '../support/nfs3-client';

const LEASE_MS = 2000;
const OWNER_WAIT_MS = 5000;
const FILE_BYTES = 2 * 1024 * 1024;
const FILES = 3; // 6 MiB of data: a scrub takes about 6 s at 1 MiB/s

interface Job {
  id: string;
  state: string;
  progress: number;
  result: any;
  error: string | null;
}

describe('scrub and fsck in a cluster run on the filesystem owner', () => {
  let c: Cluster;
  let fs: { id: string; fsid: string; path: string; exportId: string };
  const written = new Map<string, string>(); // name -> sha256

  const lease = async (): Promise<LeaseRow> => (await c.leases()).find((r) => r.fsid === fs.fsid)!;
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  async function startJob(type: 'scrub' | 'fsck'): Promise<string> {
    const job = await c.api<Job>('POST', '/jobs', { type, filesystemId: fs.id });
    return job.id;
  }
  async function waitJob(id: string, timeoutMs = 60_000): Promise<Job & { ms: number }> {
    const t0 = Date.now();
    for (;;) {
      const job = await c.api<Job>('GET', `/jobs/${id}`);
      if (['succeeded', 'failed', 'cancelled'].includes(job.state)) return { ...job, ms: Date.now() - t0 };
      if (Date.now() - t0 > timeoutMs) throw new Error(`job ${id} still ${job.state} after ${timeoutMs} ms: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  async function waitRunning(id: string): Promise<void> {
    for (let i = 0; i < 300; i++) {
      const job = await c.api<Job>('GET', `/jobs/${id}`);
      if (job.state === 'running' && job.progress > 0) return;
      if (job.state !== 'queued' && job.state !== 'running') throw new Error(`job ${id} ended early: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`job ${id} never made progress`);
  }
  async function readBack(): Promise<void> {
    const client = await Nfs3Client.mount('127.0.0.1', c.directorPort, fs.path, { timeoutMs: 60_000 });
    try {
      for (const [name, digest] of written) {
        const { fh } = await client.lookup(client.root, name);
        expect(sha(await client.readAll(fh)), name).toBe(digest);
      }
    } finally {
      await client.close();
    }
  }
  async function write(name: string, bytes: number): Promise<void> {
    const client = await Nfs3Client.mount('127.0.0.1', c.directorPort, fs.path, { timeoutMs: 60_000 });
    try {
      const data = randomBytes(bytes);
      const fh = await client.create(client.root, name);
      for (let off = 0; off < bytes; off += 256 * 1024) await client.write(fh, BigInt(off), data.subarray(off, off + 256 * 1024), Stable.FILE_SYNC);
      written.set(name, sha(data));
    } finally {
      await client.close();
    }
  }
  const ownerLog = (name: string) => readFileSync(c.movers.get(name)!.logPath, 'utf8');

  beforeAll(async () => {
    if (!existsSync(DIRECTOR_MAIN)) throw new Error(`${DIRECTOR_MAIN} missing: build first (FERRY_DIST or npm run build)`);
    c = await Cluster.start({ movers: 2, leaseMs: LEASE_MS, env: { FERRY_SCRUB_RATE: '1M', FERRY_MAINTENANCE_WAIT_MS: String(OWNER_WAIT_MS) } });
    const created = await c.createExportedFilesystem('maint', 1024 ** 3);
    const row = (await c.api('GET', '/filesystems')).items.find((f: { name: string }) => f.name === 'maint');
    const exp = (await c.api('GET', '/exports')).items.find((e: { path: string }) => e.path === created.path);
    fs = { id: row.id, fsid: created.fsid, path: created.path, exportId: exp.id };
    await c.waitSettled((rows) => rows.length === 1);
    for (let i = 0; i < FILES; i++) await write(`file${i}`, FILE_BYTES);
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
  });

  it('scrubs online on the owner: clean, with progress, while the data stays readable', async () => {
    const owner = (await lease()).owner!;
    const id = await startJob('scrub');
    await waitRunning(id);
    await readBack(); // served while the scrub runs
    const job = await waitJob(id);
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.progress).toBe(1);
    expect(job.result).toMatchObject({ clean: true, damagedCount: 0, damaged: [] });
    expect(job.result.bytesChecked).toBeGreaterThanOrEqual(FILES * FILE_BYTES);
    expect(ownerLog(owner)).toContain('scrub requested by the admin-api');
    process.stdout.write(`scrub on ${owner}: ${job.result.bytesChecked} bytes in ${job.ms} ms\n`);
  });

  it('a cancelled scrub job stops the scrub on the owner', async () => {
    const owner = (await lease()).owner!;
    const id = await startJob('scrub');
    await waitRunning(id);
    await c.api('POST', `/jobs/${id}/cancel`);
    const job = await waitJob(id, 20_000);
    expect(job.state, JSON.stringify(job)).toBe('cancelled');
    for (let i = 0; !ownerLog(owner).includes('cancelled by the admin-api'); i++) {
      if (i > 50) throw new Error(`the owner did not stop the scrub:\n${c.movers.get(owner)!.logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('a scrub whose filesystem moves away fails with the reason, and runs on the new owner', async () => {
    const from = await lease();
    const id = await startJob('scrub');
    await waitRunning(id);
    const m = (await c.api('GET', '/movers')).items.find((x: { name: string }) => x.name === from.owner);
    await c.api('POST', `/movers/${m.id}/drain`);
    const job = await waitJob(id, 20_000);
    process.stdout.write(`scrub during a drain: ${job.error} (${job.ms} ms)\n`);
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(job.error).toMatch(/stopped being served here during the scrub|moved from mover|no longer serves it/);
    const to = (await c.waitSettled((rows) => rows[0]!.owner !== from.owner))[0]!;
    const again = await waitJob(await startJob('scrub'));
    expect(again.state, JSON.stringify(again)).toBe('succeeded');
    expect(again.result.clean).toBe(true);
    expect(ownerLog(to.owner!)).toContain('scrub requested by the admin-api');
  });

  it('a scrub whose owner dies fails within bounded time; with no owner at all it fails after the wait', async () => {
    const owner = (await lease()).owner!; // the other mover is drained now: nobody takes over
    const id = await startJob('scrub');
    await waitRunning(id);
    const killedAt = Date.now();
    await c.movers.get(owner)!.kill9();
    const job = await waitJob(id, 30_000);
    process.stdout.write(`scrub whose owner was killed: ${job.error} (${Date.now() - killedAt} ms after the kill)\n`);
    expect(job.state, JSON.stringify(job)).toBe('failed');
    expect(job.error).toMatch(/no longer serves it|no word from mover/);
    expect(Date.now() - killedAt).toBeLessThan(LEASE_MS + 5000);

    const t0 = Date.now();
    const orphan = await waitJob(await startJob('scrub'), 30_000);
    process.stdout.write(`scrub with no owner: ${orphan.error}\n`);
    expect(orphan.state, JSON.stringify(orphan)).toBe('failed');
    expect(orphan.error).toMatch(/no owner took the request within 5 s \(no data mover serves it\)/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(OWNER_WAIT_MS);
    expect(Date.now() - t0).toBeLessThan(OWNER_WAIT_MS + 5000);

    // The mover comes back under its name, takes the filesystem over, and a scrub is clean again.
    await c.addMover(owner);
    await c.waitSettled((rows) => rows[0]!.owner === owner);
    const again = await waitJob(await startJob('scrub'));
    expect(again.state, JSON.stringify(again)).toBe('succeeded');
    expect(again.result.clean).toBe(true);
    await readBack();
  });

  it('fsck takes the filesystem offline on its owner, which keeps its lease, and serves it again', async () => {
    await c.api('DELETE', `/exports/${fs.exportId}`); // an offline check needs an unexported filesystem
    const before = await lease();
    const job = await waitJob(await startJob('fsck'));
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.result.clean, JSON.stringify(job.result.problems)).toBe(true);
    expect(job.result.problems).toEqual([]);
    expect(job.result.counts.metadataPages).toBeGreaterThan(0);
    const after = await lease();
    expect({ owner: after.owner, epoch: after.epoch, serving: after.serving }).toEqual({ owner: before.owner, epoch: before.epoch, serving: true });
    const log = ownerLog(before.owner!);
    expect(log).toContain('fsck: taking the filesystem offline');
    expect(log).toContain('fsck: filesystem served again');

    const exp = await c.api('POST', '/exports', { filesystemId: fs.id, path: fs.path, clients: ['127.0.0.0/8'], access: 'rw', rootSquash: false, secure: false });
    fs.exportId = exp.id;
    // The mover picks the export up from the event (or its periodic reload).
    for (let i = 0; ; i++) {
      try {
        await readBack();
        break;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await write('after-fsck', 64 * 1024);
    await readBack();
    const scrub = await waitJob(await startJob('scrub'));
    expect(scrub.result.clean).toBe(true);
  });
});
