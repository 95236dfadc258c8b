/**
 * create-files: N empty files created through the engine API (`FileSystem.create`, each durable
 * when it resolves) with many in flight so group commit can batch their log syncs; then the
 * offline check (meta `verifyVolume` + `checkFileSystem`) of the result.
 *
 * Layouts: `spread` (directories of --per-dir entries, default 10,000) or `single` (every file
 * in one directory). Bounded by --max-seconds: when the budget runs out the run stops, reports
 * the rate reached and an extrapolation to N, and still checks what it built.
 *
 * Usage: node dist/bench/engine/create-files.js [--files 1000000] [--layout spread|single]
 *        [--per-dir 10000] [--in-flight 64] [--max-seconds 300] [--no-fsck] [--dir DIR]
 *        [--keep DIR] (builds into DIR/pool.img and keeps it, for recovery.ts --reuse)
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { checkFileSystem, openVolume, verifyVolume, type FileRef } from '@ferry/fs';
import { Pool } from '@ferry/pool';
import {
  FSID,
  GiB,
  createFileSystem,
  drive,
  fail,
  fileName,
  fmtBytes,
  fmtMs,
  fmtRate,
  intFlag,
  memory,
  parseFlags,
  printJson,
  printTable,
  progress,
  scratchDir,
} from './harness';

const FLAGS = {
  files: 'files to create (default 1000000)',
  layout: 'spread (directories of --per-dir) or single (one directory)',
  'per-dir': 'entries per directory in the spread layout (default 10000)',
  'in-flight': 'concurrent creates (default 64)',
  'max-seconds': 'time budget of the create phase (default 300)',
  'no-fsck': 'skip the offline check',
  'pool-gib': 'size of the sparse pool file (default 8)',
  dir: 'scratch directory on the disk under test',
  keep: 'build into this directory and keep the pool file (no cleanup)',
};

export interface CreateOutcome {
  created: number;
  createMs: number;
  dirs: number;
  deadlineHit: boolean;
}

/** Creates up to `files` files in `layout` on an open filesystem; also used by recovery.ts. */
export async function createFiles(
  fs: import('@ferry/fs').FileSystem,
  opts: { files: number; layout: 'spread' | 'single'; perDir: number; inFlight: number; deadlineMs?: number; label?: string },
): Promise<CreateOutcome> {
  const owner = { uid: 1000, gid: 1000 };
  const dirCount = opts.layout === 'single' ? 1 : Math.ceil(opts.files / opts.perDir);
  const dirs: FileRef[] = [];
  const t0 = performance.now();
  for (let d = 0; d < dirCount; d++) {
    const { attr } = await fs.mkdir(fs.root, `d${d}`, { mode: 0o755 }, owner);
    dirs.push({ ino: attr.ino, generation: attr.generation });
  }
  let last = performance.now();
  let lastDone = 0;
  const perDir = opts.layout === 'single' ? opts.files : opts.perDir;
  const created = await drive(
    opts.files,
    opts.inFlight,
    (i) => fs.create(dirs[Math.floor(i / perDir)] as FileRef, fileName(i), { how: 'guarded', attrs: { mode: 0o644 } }, owner),
    {
      deadlineMs: opts.deadlineMs,
      progressEvery: 50_000,
      onProgress: (done) => {
        const now = performance.now();
        const rate = ((done - lastDone) * 1000) / (now - last);
        progress(`${opts.label ?? 'create'}: ${done} files, ${fmtRate(rate)} files/s now, rss ${fmtBytes(memory().rssBytes)}`);
        last = now;
        lastDone = done;
      },
    },
  );
  const createMs = performance.now() - t0;
  return { created, createMs, dirs: dirCount, deadlineHit: created < opts.files };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  const files = intFlag(flags, 'files', 1_000_000);
  const layout = (flags.get('layout') ?? 'spread') as 'spread' | 'single';
  if (layout !== 'spread' && layout !== 'single') throw new Error(`--layout ${layout}: spread or single`);
  const perDir = intFlag(flags, 'per-dir', 10_000);
  const inFlight = intFlag(flags, 'in-flight', 64);
  const maxSeconds = intFlag(flags, 'max-seconds', 300);
  const poolBytes = intFlag(flags, 'pool-gib', 8) * GiB;
  const keep = flags.get('keep');
  let dir: string;
  if (keep) {
    mkdirSync(keep, { recursive: true });
    dir = keep;
  } else dir = scratchDir(flags);
  const devPath = join(dir, 'pool.img');

  const m = await createFileSystem(devPath, poolBytes);
  const deadlineMs = performance.now() + maxSeconds * 1000;
  const out = await createFiles(m.fs, { files, layout, perDir, inFlight, deadlineMs });
  const memAfterCreate = memory();
  const stats = m.volume.stats();
  const tClose = performance.now();
  await m.close();
  const closeMs = performance.now() - tClose;
  const rate = (out.created * 1000) / out.createMs;

  let verifyMs = 0;
  let fsckMs = 0;
  let fsckClean: boolean | undefined;
  let fsckKeys = 0;
  let verifyPages = 0;
  let problems: string[] = [];
  if (!flags.has('no-fsck')) {
    progress('fsck: verifyVolume + checkFileSystem');
    const pool = await Pool.open([devPath], { readOnly: true });
    try {
      const info = pool.listFilesystems().find((f) => f.fsId === FSID);
      if (!info) throw new Error('filesystem vanished');
      const space = await pool.openSpace(FSID, { maxBytes: info.bytes });
      const t0 = performance.now();
      const vr = await verifyVolume(space);
      verifyMs = performance.now() - t0;
      verifyPages = vr.pages;
      const volume = await openVolume(space, { readOnly: true });
      const t1 = performance.now();
      const report = await checkFileSystem(volume, { volumeReport: vr });
      fsckMs = performance.now() - t1;
      await volume.close();
      fsckClean = report.clean;
      fsckKeys = report.counts.keys;
      problems = report.problems.slice(0, 5);
      if (report.counts.inodes !== out.created + out.dirs + 1)
        problems.push(`fsck counted ${report.counts.inodes} inodes, expected ${out.created + out.dirs + 1}`);
    } finally {
      await pool.close();
    }
  }
  const memEnd = memory();

  const rows: Array<[string, string]> = [
    ['layout', layout === 'single' ? `one directory of ${files} entries` : `${out.dirs} directories of ${perDir}`],
    ['files created', `${out.created} of ${files}${out.deadlineHit ? ` (stopped at the ${maxSeconds} s budget)` : ''}`],
    ['in flight', String(inFlight)],
    ['create time', fmtMs(out.createMs)],
    ['create rate', `${fmtRate(rate)} files/s`],
  ];
  if (out.deadlineHit) rows.push(['extrapolated time for N', `${((files / rate) / 60).toFixed(1)} min at that rate`]);
  rows.push(
    ['peak RSS after create', `${fmtBytes(memAfterCreate.peakRssBytes)} (target < 512 MiB)`],
    ['log / checkpoint LSN', `${stats.lastLsn} / ${stats.checkpointLsn}`],
    ['flush + close', fmtMs(closeMs)],
  );
  if (fsckClean !== undefined)
    rows.push(
      ['verifyVolume', `${fmtMs(verifyMs)} (${verifyPages} pages)`],
      ['checkFileSystem', `${fmtMs(fsckMs)} (${fsckKeys} keys, ${fsckClean ? 'clean' : 'PROBLEMS'})`],
      ['fsck total', fmtMs(verifyMs + fsckMs)],
      ['peak RSS incl. fsck', fmtBytes(memEnd.peakRssBytes)],
    );
  for (const p of problems) rows.push(['PROBLEM', p]);
  printTable(`create-files (${layout})`, rows);
  printJson('create-files', {
    layout,
    filesRequested: files,
    filesCreated: out.created,
    dirs: out.dirs,
    inFlight,
    deadlineHit: out.deadlineHit,
    createMs: Math.round(out.createMs),
    filesPerSec: Math.round(rate),
    extrapolatedMsForN: Math.round((files / rate) * 1000),
    peakRssBytesCreate: memAfterCreate.peakRssBytes,
    peakRssBytes: memEnd.peakRssBytes,
    closeMs: Math.round(closeMs),
    verifyVolumeMs: Math.round(verifyMs),
    checkFileSystemMs: Math.round(fsckMs),
    fsckClean,
    problems,
  });
  if (problems.length > 0) process.exitCode = 1;
}

if (require.main === module) main().catch(fail);
