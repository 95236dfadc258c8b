/**
 * Goal: in a cluster, the admin API shows a filesystem's usage as its owning mover measures it:
 * bytes written through the director show up in GET /filesystems/:id (and the list) within a few
 * seconds, with the age of the figure, and the usage goes blank once no mover serves the filesystem.
 * Method: real processes (test/support/cluster.ts): PostgreSQL, Redis, the cluster admin-api, one
 * mover with a 2 s lease, one director; 8 MiB written with FILE_SYNC by the test's NFSv3 client,
 * the API polled until the figure moves; then the mover is killed with SIGKILL.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, DIRECTOR_MAIN } from '../support/cluster';
import { Nfs3Client, Stable } from '../support/nfs3-client';

const MiB = 1024 * 1024;
const WRITE_BYTES = 8 * MiB;

interface Usage {
  sizeBytes: number;
  usedBytes: number;
  freeBytes: number;
  files: number;
  freeFiles: number;
  measuredAt: string;
  ageMs: number;
}

describe('filesystem usage in a cluster', () => {
  let c: Cluster;
  let fs: { id: string; path: string };
  const usage = async (): Promise<Usage | null> => (await c.api('GET', `/filesystems/${fs.id}`)).usage;
  async function waitUsage(pred: (u: Usage | null) => boolean, timeoutMs: number): Promise<{ u: Usage | null; ms: number }> {
    const t0 = Date.now();
    for (;;) {
      const u = await usage();
      if (pred(u)) return { u, ms: Date.now() - t0 };
      if (Date.now() - t0 > timeoutMs) throw new Error(`usage did not get there in ${timeoutMs} ms: ${JSON.stringify(u)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  beforeAll(async () => {
    if (!existsSync(DIRECTOR_MAIN)) throw new Error(`${DIRECTOR_MAIN} missing: build first (FERRY_DIST or npm run build)`);
    c = await Cluster.start({ movers: 1, leaseMs: 2000 });
    const created = await c.createExportedFilesystem('usage', 1024 ** 3);
    const row = (await c.api('GET', '/filesystems')).items.find((f: { name: string }) => f.name === 'usage');
    fs = { id: row.id, path: created.path };
    await c.waitSettled((rows) => rows.length === 1);
  }, 60_000);

  afterAll(async () => {
    await c?.stop();
  });

  it('shows bytes written through the director within seconds, with the age of the figure', async () => {
    const before = (await waitUsage((u) => u !== null, 10_000)).u!;
    expect(before.sizeBytes).toBeGreaterThan(1000 * MiB); // the 1 GiB limit, less what the engine keeps
    expect(before.usedBytes).toBeLessThan(64 * MiB); // a new filesystem: its log and metadata only

    const client = await Nfs3Client.mount('127.0.0.1', c.directorPort, fs.path, { timeoutMs: 30_000 });
    try {
      const data = randomBytes(WRITE_BYTES);
      const fh = await client.create(client.root, 'eight-mib');
      for (let off = 0; off < WRITE_BYTES; off += 256 * 1024) await client.write(fh, BigInt(off), data.subarray(off, off + 256 * 1024), Stable.FILE_SYNC);
    } finally {
      await client.close();
    }

    const { u: after, ms } = await waitUsage((u) => u !== null && u.usedBytes >= before.usedBytes + WRITE_BYTES, 10_000);
    const grown = after!.usedBytes - before.usedBytes;
    process.stdout.write(`usage: ${before.usedBytes} -> ${after!.usedBytes} bytes (+${grown}), seen ${ms} ms after the last write, figure ${after!.ageMs} ms old\n`);
    expect(grown).toBeLessThan(WRITE_BYTES + 2 * MiB); // the data plus a little metadata
    expect(after!.freeBytes).toBeLessThanOrEqual(before.freeBytes - WRITE_BYTES);
    expect(after!.files).toBe(before.files + 1);
    expect(after!.ageMs).toBeGreaterThanOrEqual(0);
    expect(after!.ageMs).toBeLessThan(10_000);
    expect(Math.abs(Date.now() - after!.ageMs - Date.parse(after!.measuredAt))).toBeLessThan(5_000);
    const listed = (await c.api('GET', '/filesystems')).items.find((f: { id: string }) => f.id === fs.id);
    expect(listed.usage.usedBytes).toBeGreaterThanOrEqual(after!.usedBytes);
  });

  it('goes blank when its owner dies (once the lease runs out), though the last figure was fresh', async () => {
    expect(await usage()).not.toBeNull();
    await c.movers.get('m1')!.kill9(); // nobody to take it over: the last figure stays in the table
    const { ms } = await waitUsage((u) => u === null, 10_000);
    process.stdout.write(`usage blank ${ms} ms after the owner was killed (lease 2000 ms)\n`);
    expect(ms).toBeLessThan(2000 + 1500);
  });
});
