/**
 * recovery: time to reopen a filesystem after kill -9.
 *
 * A child process (this script with --child) builds a filesystem of --files files (the
 * create-files approach: spread directories, 64 in flight), says READY, then keeps doing
 * metadata operations (create, setattr, rename, remove, 64 in flight) and reports how many it
 * had acknowledged; the parent SIGKILLs it after --churn-ms, then measures Pool.open +
 * openVolume (superblock, bitmaps, log replay) and openFileSystem, with the log records and
 * bytes replayed from the volume's recovery line. It then checks that the last acknowledged
 * creation survived, and times a clean reopen for comparison.
 *
 * Usage: node dist/bench/engine/recovery.js [--files 10000] [--churn-ms 3000]
 *        [--max-seconds 300] [--dir DIR]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FsError, FsErrorCode, type FileRef, type FileSystem } from '@ferry/fs';
import { createFiles } from './create-files';
import {
  CapturingLogger,
  GiB,
  createFileSystem,
  fail,
  fmtBytes,
  fmtMs,
  fmtRate,
  intFlag,
  openExisting,
  parseFlags,
  printJson,
  printTable,
  progress,
  scratchDir,
} from './harness';

const FLAGS = {
  files: 'files built before the crash (default 10000)',
  'churn-ms': 'metadata operations after the build, before SIGKILL (default 3000)',
  'max-seconds': 'time budget of the build (default 300)',
  'pool-gib': 'size of the sparse pool file (default 8)',
  dir: 'scratch directory on the disk under test',
  child: '(internal) build and churn on this pool file until killed',
};

const CHURN_IN_FLIGHT = 64;
const churnName = (k: number): string => `c${k}`;

/** The child: build, then churn forever, reporting the acknowledged prefix of creations. */
async function child(devPath: string, files: number, maxSeconds: number, poolBytes: number): Promise<void> {
  // A parent that died closes the pipe: stop rather than churn on forever.
  process.stdout.on('error', () => process.exit(1));
  const m = await createFileSystem(devPath, poolBytes);
  const out = await createFiles(m.fs, { files, layout: 'spread', perDir: 10_000, inFlight: 64, deadlineMs: performance.now() + maxSeconds * 1000 });
  process.stdout.write(`READY ${out.created} ${Math.round(out.createMs)}\n`);
  await churn(m.fs);
}

async function churn(fs: FileSystem): Promise<void> {
  const owner = { uid: 1000, gid: 1000 };
  const { attr } = await fs.mkdir(fs.root, 'churn', { mode: 0o755 }, owner);
  const dir: FileRef = { ino: attr.ino, generation: attr.generation };
  // Creation k is acknowledged when its promise resolves; `acked` is the prefix all resolved.
  const done = new Set<number>();
  let acked = 0;
  let next = 0;
  let ops = 0;
  let lastReport = performance.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const k = next++;
      const { attr: a } = await fs.create(dir, churnName(k), { how: 'guarded', attrs: { mode: 0o644 } }, owner);
      const ref = { ino: a.ino, generation: a.generation };
      await fs.setattr(ref, { mode: 0o600 });
      ops += 2;
      // Every fourth file is renamed and removed again, so the log also carries those shapes.
      if (k % 4 === 3) {
        await fs.rename(dir, churnName(k), dir, `${churnName(k)}.tmp`);
        await fs.remove(dir, `${churnName(k)}.tmp`);
        ops += 2;
      }
      done.add(k);
      while (done.delete(acked)) acked++;
      const now = performance.now();
      if (now - lastReport > 100) {
        lastReport = now;
        // Only names that stay (k % 4 !== 3) can be checked after recovery.
        process.stdout.write(`ACKED ${acked} ${ops}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: CHURN_IN_FLIGHT }, worker));
}

async function parent(files: number, churnMs: number, maxSeconds: number, poolGib: number, dir: string): Promise<void> {
  const devPath = join(dir, 'pool.img');
  const args = [__filename, '--child', devPath, '--files', String(files), '--max-seconds', String(maxSeconds), '--pool-gib', String(poolGib)];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  // The child churns until killed: never leave it running when the parent fails first.
  process.on('exit', () => proc.kill('SIGKILL'));
  let built = 0;
  let buildMs = 0;
  let acked = 0;
  let churnOps = 0;
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => proc.on('exit', (code, sig) => resolve(sig ?? code)));
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const [tag, a = '0', b = '0'] = line.split(' ');
      if (tag === 'READY') {
        built = Number(a);
        buildMs = Number(b);
        resolve();
      } else if (tag === 'ACKED') {
        acked = Number(a);
        churnOps = Number(b);
      }
    });
    void exited.then((r) => reject(new Error(`child exited before READY (${String(r)})`)));
  });
  progress(`child ${proc.pid ?? '?'} building ${files} files`);
  await ready;
  progress(`built ${built} files in ${fmtMs(buildMs)}; churning ${churnMs} ms, then SIGKILL`);
  await new Promise((r) => setTimeout(r, churnMs));
  proc.kill('SIGKILL');
  const how = await exited;
  if (how !== 'SIGKILL') throw new Error(`child ended by ${String(how)}, not SIGKILL`);
  const ackedAtKill = acked;

  const logger = new CapturingLogger();
  const tStart = performance.now();
  const m = await openExisting(devPath, logger);
  const totalMs = performance.now() - tStart;
  const line = logger.lines.find((l) => l.msg === 'metadata volume recovered')?.obj as { replayed?: number; bytesRead?: number } | undefined;
  const replayedRecords = line?.replayed ?? m.volume.replayedRecords;
  const replayBytes = line?.bytesRead ?? m.volume.replayBytesRead;

  // Nothing acknowledged may be lost: the last acknowledged creation that was kept is there.
  let lastKept = ackedAtKill - 1;
  while (lastKept >= 0 && lastKept % 4 === 3) lastKept--;
  let survived = true;
  if (lastKept >= 0) {
    const { attr } = await m.fs.lookup(m.fs.root, 'churn');
    try {
      await m.fs.lookup({ ino: attr.ino, generation: attr.generation }, churnName(lastKept));
    } catch (err) {
      if (err instanceof FsError && err.code === FsErrorCode.NOENT) survived = false;
      else throw err;
    }
  }
  await m.close();
  const c = await openExisting(devPath);
  const cleanMs = c.poolOpenMs + c.openVolumeMs + c.openFileSystemMs;
  const cleanReplayed = c.volume.replayedRecords;
  await c.close();

  const rows: Array<[string, string]> = [
    ['files built', `${built} (${fmtRate((built * 1000) / buildMs)} files/s in the child)`],
    ['churn before kill', `${churnMs} ms, ${churnOps} metadata ops acknowledged, then SIGKILL`],
    ['Pool.open + openSpace', fmtMs(m.poolOpenMs)],
    ['openVolume (incl. replay)', fmtMs(m.openVolumeMs)],
    ['openFileSystem', fmtMs(m.openFileSystemMs)],
    ['recovery total', `${fmtMs(totalMs)} (target < 2 s, independent of size)`],
    ['log replayed', `${replayedRecords} records, ${fmtBytes(replayBytes)} read`],
    ['last acknowledged create', survived ? `c${lastKept} present` : `c${lastKept} LOST`],
    ['clean reopen (for comparison)', `${fmtMs(cleanMs)} (${cleanReplayed} records replayed)`],
  ];
  printTable(`recovery after kill -9 (${built} files)`, rows);
  printJson('recovery', {
    files: built,
    buildMs,
    churnMs,
    churnOps,
    poolOpenMs: Math.round(m.poolOpenMs),
    openVolumeMs: Math.round(m.openVolumeMs),
    openFileSystemMs: Math.round(m.openFileSystemMs),
    recoveryMs: Math.round(totalMs),
    replayedRecords,
    replayBytes,
    lastAckedSurvived: survived,
    cleanReopenMs: Math.round(cleanMs),
  });
  if (!survived) process.exitCode = 1;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  const files = intFlag(flags, 'files', 10_000);
  const maxSeconds = intFlag(flags, 'max-seconds', 300);
  const poolGib = intFlag(flags, 'pool-gib', 8);
  const childPath = flags.get('child');
  if (childPath !== undefined) return child(childPath, files, maxSeconds, poolGib * GiB);
  await parent(files, intFlag(flags, 'churn-ms', 3000), maxSeconds, poolGib, scratchDir(flags));
}

main().catch(fail);
