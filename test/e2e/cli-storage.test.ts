// Goal: the offline storage commands work on a real data directory: `ferry fsck` is clean on a
// healthy filesystem and reports a damaged data block (exit 1), the damaged block reads as an
// I/O error over NFS (never wrong data), and `ferry pool import` lists the filesystems of a
// pool from its device alone and refuses a non-pool without changing it.
// Method: build data through the running mover, stop it, run the built CLI, damage one data
// block on the pool device by searching for a marker written into the file.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MoverProcess } from '../support/mover-process';
import { Nfs3Client, Stable } from '../support/nfs3-client';
import { CLI_MAIN } from '../support/paths';

const cli = (...args: string[]): { code: number | null; out: string } => {
  const r = spawnSync(process.execPath, [CLI_MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
};

const NFS3ERR_IO = 5;

/** Finds `marker` in the first `limit` bytes of a file (chunked, overlap-safe). */
function findMarker(path: string, marker: Buffer, limit: number): number {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.alloc(16 << 20);
    for (let pos = 0; pos < limit; pos += chunk.length - marker.length) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      const at = chunk.subarray(0, n).indexOf(marker);
      if (at >= 0) return pos + at;
      if (n < chunk.length) break;
    }
    return -1;
  } finally {
    closeSync(fd);
  }
}

describe('ferry fsck and ferry pool import', () => {
  it('checks, detects a damaged block, and imports', async () => {
    const m = await MoverProcess.start({ env: { FERRY_POOL_SIZE: '2G' } });
    const c = await Nfs3Client.mount('127.0.0.1', m.nfsPort, '/export');
    const dir = await c.mkdir(c.root, 'd');
    for (let i = 0; i < 20; i++) {
      const fh = await c.create(dir, `f${i}`);
      await c.write(fh, 0n, Buffer.alloc(5000 + i, i), Stable.FILE_SYNC);
    }
    const marker = Buffer.from(`FERRY-MARKER-${createHash('sha256').update(String(Math.random())).digest('hex')}`);
    const block = Buffer.alloc(4096, 0x41);
    marker.copy(block, 100);
    const victim = await c.create(c.root, 'victim');
    await c.write(victim, 0n, block, Stable.FILE_SYNC);
    await c.close();
    expect(cli('fsck', '--data-dir', m.dataDir).code, 'fsck must refuse while the mover runs').toBe(1);
    expect(await m.stop()).toBe(0);

    const clean = cli('fsck', '--data-dir', m.dataDir);
    expect(clean.code, clean.out).toBe(0);
    expect(clean.out).toMatch(/clean/);

    const dev = join(m.dataDir, 'pool', 'dev0.img');
    const imported = cli('pool', 'import', '--json', dev);
    expect(imported.code, imported.out).toBe(0);
    const pool = JSON.parse(imported.out) as { filesystems: Array<{ fsId: string }> };
    expect(pool.filesystems.map((f) => f.fsId)).toEqual(['1']);

    const at = findMarker(dev, marker, 2 ** 31 + (1 << 20));
    expect(at, 'marker not found on the pool device').toBeGreaterThan(0);
    const fd = openSync(dev, 'r+');
    writeSync(fd, Buffer.from('X'), 0, 1, at);
    closeSync(fd);

    const damaged = cli('fsck', '--data-dir', m.dataDir);
    expect(damaged.code, damaged.out).toBe(1);
    expect(damaged.out).toMatch(/checksum/i);

    await m.spawn();
    const c2 = await Nfs3Client.mount('127.0.0.1', m.nfsPort, '/export');
    const fh = (await c2.lookup(c2.root, 'victim')).fh;
    await expect(c2.read(fh, 0n, 4096)).rejects.toMatchObject({ status: NFS3ERR_IO });
    const other = (await c2.lookup(dir, 'f3')).fh;
    expect((await c2.readAll(other)).equals(Buffer.alloc(5003, 3))).toBe(true);
    await c2.close();
    expect(m.logTail(200)).toMatch(/checksum mismatch/);
    await m.stop();
  });

  it('refuses a file that is not a pool, naming it, and leaves it unchanged', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'ferry-notpool-')), 'junk.img');
    const junk = Buffer.alloc(4 << 20, 7);
    writeFileSync(f, junk);
    const r = cli('pool', 'import', f);
    expect(r.code).toBe(1);
    expect(r.out).toContain(f);
    expect(readFileSync(f).equals(junk)).toBe(true);
    const usage = spawnSync(process.execPath, [CLI_MAIN, 'fsck', '--bogus'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
  });
});
