/**
 * WAL commit latency: what one durable metadata transaction costs on a real pool file, with no
 * filesystem engine or RPC on top. Phases, each on a freshly formatted volume (so the first lap
 * of the circular log is measured, as a new filesystem sees it):
 *
 * - `meta qd=N`: N callers each loop apply(one put) + durable: the cost of CREATE/REMOVE/RENAME
 *   at the volume (group commit shares a write between the N).
 * - `filesync qd=N`: N callers each loop allocate(1) + writeBlocks(4 KiB) + apply(put,
 *   allocated) + durable: the cost of a FILE_SYNC WRITE of a new block.
 *
 * Usage (after a private build, see README.md): node OUT/bench/engine/wal-commit.js
 * [--ops 3000] [--qd 1,4] [--kinds meta,filesync] [--dir DIR] [--pool-mib 1024]
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { formatVolume, openVolume, type MetaVolume } from '@ferry/fs';
import { Pool } from '@ferry/pool';
import { MiB, drive, fail, intFlag, parseFlags, printJson, printTable, progress, random, scratchDir } from './harness';

const FSID = 1n;

interface Phase {
  name: string;
  qd: number;
  ops: number;
  seconds: number;
  opsPerSec: number;
  latUs: { p50: number; p90: number; p99: number; mean: number };
}

async function freshVolume(dir: string, poolBytes: number, n: number): Promise<{ volume: MetaVolume; close(): Promise<void>; formatMs: number }> {
  const pool = await Pool.create([join(dir, `pool-${n}.img`)], { createSizeBytes: poolBytes });
  const ps = pool.stats();
  const maxBytes = ps.totalSlices * ps.sliceDataBytes;
  const space = await pool.createSpace(FSID, { maxBytes });
  const t0 = performance.now();
  await formatVolume(space, { volumeId: FSID, maxBytes, random });
  const formatMs = performance.now() - t0;
  // No timer checkpoints inside a phase: they would be measured as commit latency.
  const volume = await openVolume(space, { random, checkpointIntervalMs: 0 });
  return {
    volume,
    formatMs,
    async close() {
      await volume.close();
      await pool.close();
    },
  };
}

function summary(name: string, qd: number, lat: number[], seconds: number): Phase {
  const s = lat.slice().sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  const r = (x: number): number => Math.round(x);
  return { name, qd, ops: s.length, seconds, opsPerSec: s.length / seconds, latUs: { p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), mean: r(mean) } };
}

async function phase(name: string, qd: number, ops: number, op: (i: number) => Promise<void>): Promise<Phase> {
  const lat: number[] = [];
  const t0 = performance.now();
  await drive(ops, qd, async (i) => {
    const s = performance.now();
    await op(i);
    lat.push((performance.now() - s) * 1000);
  });
  return summary(name, qd, lat, (performance.now() - t0) / 1000);
}

function key(prefix: string, i: number): Buffer {
  return Buffer.from(`${prefix}${i.toString(36).padStart(8, '0')}`);
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), {
    ops: 'operations per phase (default 3000)',
    qd: 'comma-separated caller counts (default 1,4)',
    kinds: 'comma-separated phases: meta, filesync (default both)',
    dir: 'scratch directory on the disk under test',
    'pool-mib': 'pool file size in MiB (default 1024)',
  });
  const ops = intFlag(flags, 'ops', 3000);
  const qds = (flags.get('qd') ?? '1,4').split(',').map((s) => Number(s));
  const kinds = (flags.get('kinds') ?? 'meta,filesync').split(',');
  for (const k of kinds) if (k !== 'meta' && k !== 'filesync') throw new Error(`--kinds: unknown phase ${k}`);
  const poolBytes = intFlag(flags, 'pool-mib', 1024) * MiB;
  const dir = scratchDir(flags);
  const value = randomBytes(120); // about an inode record
  const block = randomBytes(4096);
  const phases: Phase[] = [];
  const formatMs: number[] = [];
  let n = 0;
  for (const qd of qds) {
    for (const kind of kinds) {
      const v = await freshVolume(dir, poolBytes, n++);
      formatMs.push(v.formatMs);
      const vol = v.volume;
      progress(`${kind} qd=${qd}`);
      const p =
        kind === 'meta'
          ? await phase('meta', qd, ops, async (i) => {
              await vol.durable(await vol.apply({ puts: [[key('m', i), value]], dels: [] }));
            })
          : await phase('filesync', qd, ops, async (i) => {
              const ext = await vol.allocate(1);
              await vol.writeBlocks(ext[0]!.block, block);
              await vol.durable(await vol.apply({ puts: [[key('d', i), value]], dels: [], allocated: ext }));
            });
      phases.push(p);
      await v.close();
    }
  }
  printTable(
    `WAL commit (${ops} ops per phase, fresh volume each)`,
    phases.map((p) => [
      `${p.name} qd=${p.qd}`,
      `${p.opsPerSec.toFixed(0)} ops/s   lat us p50 ${p.latUs.p50} p90 ${p.latUs.p90} p99 ${p.latUs.p99} mean ${p.latUs.mean}`,
    ]),
  );
  const fm = formatMs.slice().sort((a, b) => a - b);
  printTable('format', [['formatVolume median', `${fm[Math.floor(fm.length / 2)]!.toFixed(1)} ms`]]);
  printJson('wal-commit', { ops, phases, formatMsMedian: fm[Math.floor(fm.length / 2)] });
}

main().catch(fail);
