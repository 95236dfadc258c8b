/**
 * What making a rename durable costs on this machine's disk, outside any NFS server: N renames
 * in one directory, first alone (what a server that does not sync metadata pays), then each
 * followed by an fsync of the directory (what a server that commits metadata before it replies,
 * as RFC 1813 asks, pays at least). Puts Ferry's one-at-a-time create/rename/remove figures and
 * a non-syncing peer's in proportion (docs/benchmarks.md, "Where the targets stand").
 *
 * Usage: node dist/bench/rename-sync-cost.js [DIR] [N]   (default: a new directory under the
 * system temp dir, 500). The directory is created and removed again.
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function timeRenames(dir: string, n: number, sync: boolean): number {
  for (let i = 0; i < n; i++) writeFileSync(join(dir, `a${i}`), '');
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      renameSync(join(dir, `a${i}`), join(dir, `b${i}`));
      if (sync) fsyncSync(fd);
    }
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
    for (let i = 0; i < n; i++) rmSync(join(dir, `b${i}`));
    fsyncSync(fd);
    return us;
  } finally {
    closeSync(fd);
  }
}

const parent = process.argv[2] ?? tmpdir();
const n = Number(process.argv[3] ?? 500);
if (!(n > 0)) throw new Error('usage: rename-sync-cost [DIR] [N]');
const dir = mkdtempSync(join(parent, 'ferry-rename-sync-'));
try {
  for (let round = 1; round <= 3; round++) {
    const plain = timeRenames(dir, n, false);
    const synced = timeRenames(dir, n, true);
    console.log(`round ${round} in ${parent}: rename ${plain.toFixed(1)} µs; rename + fsync(dir) ${synced.toFixed(1)} µs (${n} each)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
