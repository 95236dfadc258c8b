/**
 * Shared plumbing of the engine benchmarks: flags, a scratch pool file on a real disk (removed
 * at exit, also on failure), opening a pool / volume / filesystem the way the data mover does,
 * peak RSS, a bounded-concurrency driver, and the two outputs every script prints (a readable
 * table and one JSON line starting with `BENCH `).
 *
 * Benchmarks are measurements, not tests: they assert nothing about speed, they report it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { formatFileSystem, formatVolume, openFileSystem, openVolume, type FileSystem, type MetaLogger, type MetaVolume, type Timespec } from '@ferry/fs';
import { Pool, type Space } from '@ferry/pool';

export const FSID = 1n;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** `--name value` and `--flag` flags; everything else is an error so a typo is not silently ignored. */
export function parseFlags(argv: string[], known: Record<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--help' || a === '-h') {
      process.stdout.write(Object.entries(known).map(([k, v]) => `  --${k}  ${v}`).join('\n') + '\n');
      process.exit(0);
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (!(name in known)) throw new Error(`unknown flag --${name} (known: ${Object.keys(known).join(', ')})`);
    if (inline !== undefined) out.set(name, inline);
    else if (i + 1 < argv.length && !(argv[i + 1] ?? '').startsWith('--')) out.set(name, argv[++i] ?? '');
    else out.set(name, 'true');
  }
  return out;
}

export function intFlag(flags: Map<string, string>, name: string, dflt: number): number {
  const v = flags.get(name);
  if (v === undefined) return dflt;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} ${v}: a non-negative integer is required`);
  return n;
}

/**
 * A scratch directory on the disk under test: `--dir` when given, else `.tmp/bench-engine` of the
 * repository when it exists (same disk as the code), else /tmp. Removed at exit.
 */
export function scratchDir(flags: Map<string, string>): string {
  const base = flags.get('dir') ?? (existsSync(join(process.cwd(), '.tmp')) ? join(process.cwd(), '.tmp') : '/tmp');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'bench-engine-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      cleanup();
      process.exit(130);
    });
  return dir;
}

// Wall clock with nanosecond resolution, as the data mover does it.
const WALL_BASE_NS = BigInt(Date.now()) * 1_000_000n;
const HR_BASE = process.hrtime.bigint();
export function nowTimespec(): Timespec {
  const ns = process.hrtime.bigint() - HR_BASE + WALL_BASE_NS;
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}
export const random = (n: number): Buffer => randomBytes(n);

/** Collects the volume's log lines (the recovery line carries the replay figures). */
export class CapturingLogger implements MetaLogger {
  readonly lines: Array<{ obj: object; msg?: string }> = [];
  info(obj: object, msg?: string): void {
    this.lines.push({ obj, msg });
  }
  warn(obj: object, msg?: string): void {
    this.lines.push({ obj, msg });
    process.stderr.write(`volume warn: ${msg ?? ''} ${JSON.stringify(obj)}\n`);
  }
  error(obj: object, msg?: string): void {
    this.lines.push({ obj, msg });
    process.stderr.write(`volume error: ${msg ?? ''} ${JSON.stringify(obj)}\n`);
  }
}

export interface Mounted {
  pool: Pool;
  space: Space;
  volume: MetaVolume;
  fs: FileSystem;
  close(): Promise<void>;
}

/** Creates a sparse pool file and a formatted filesystem on it, as the mover's first start does. */
export async function createFileSystem(devPath: string, poolBytes: number): Promise<Mounted> {
  const pool = await Pool.create([devPath], { createSizeBytes: poolBytes });
  const ps = pool.stats();
  const maxBytes = ps.totalSlices * ps.sliceDataBytes;
  const space = await pool.createSpace(FSID, { maxBytes });
  await formatVolume(space, { volumeId: FSID, maxBytes, random });
  const volume = await openVolume(space, { random });
  await formatFileSystem(volume, { fsid: FSID, clock: nowTimespec, rootMode: 0o777 });
  const fs = await openFileSystem(volume, { fsid: FSID, clock: nowTimespec, random });
  return mounted(pool, space, volume, fs);
}

/** Opens an existing pool file's filesystem, timing the two recovery steps separately. */
export async function openExisting(
  devPath: string,
  logger?: MetaLogger,
): Promise<Mounted & { openVolumeMs: number; openFileSystemMs: number; poolOpenMs: number }> {
  const t0 = performance.now();
  const pool = await Pool.open([devPath]);
  const info = pool.listFilesystems().find((f) => f.fsId === FSID);
  if (!info) throw new Error(`filesystem ${FSID} not found in ${devPath}`);
  const ps = pool.stats();
  const space = await pool.openSpace(FSID, { maxBytes: ps.totalSlices * ps.sliceDataBytes });
  const t1 = performance.now();
  const volume = await openVolume(space, { random, logger });
  const t2 = performance.now();
  const fs = await openFileSystem(volume, { fsid: FSID, clock: nowTimespec, random });
  const t3 = performance.now();
  return { ...mounted(pool, space, volume, fs), poolOpenMs: t1 - t0, openVolumeMs: t2 - t1, openFileSystemMs: t3 - t2 };
}

function mounted(pool: Pool, space: Space, volume: MetaVolume, fs: FileSystem): Mounted {
  return {
    pool,
    space,
    volume,
    fs,
    async close() {
      await fs.flush();
      await fs.close();
      await volume.close();
      await pool.close();
    },
  };
}

/** Peak and current resident set of this process in bytes (Linux /proc; 0 elsewhere). */
export function memory(): { peakRssBytes: number; rssBytes: number } {
  try {
    const s = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { peakRssBytes: kb('VmHWM'), rssBytes: kb('VmRSS') };
  } catch {
    return { peakRssBytes: 0, rssBytes: 0 };
  }
}

/**
 * Runs `op(i)` for i in [0, count) with at most `inFlight` pending, stopping early (without
 * error) once `deadlineMs` (performance.now() scale) passes. Returns how many completed.
 */
export async function drive(
  count: number,
  inFlight: number,
  op: (i: number) => Promise<unknown>,
  opts: { deadlineMs?: number; onProgress?: (done: number) => void; progressEvery?: number } = {},
): Promise<number> {
  let next = 0;
  let done = 0;
  const every = opts.progressEvery ?? 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      if (opts.deadlineMs !== undefined && performance.now() > opts.deadlineMs) return;
      const i = next++;
      await op(i);
      done++;
      if (every > 0 && done % every === 0) opts.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return done;
}

/** Deterministic name of file i: short, distinct, in a fixed order. */
export function fileName(i: number): string {
  return `f${i.toString(36).padStart(6, '0')}`;
}

export function fmtRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(1);
}
export function fmtBytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
export function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(1)} ms`;
}

/** A two-column table with a title, for people; the JSON line is for machines. */
export function printTable(title: string, rows: Array<[string, string]>): void {
  const w = Math.max(...rows.map((r) => r[0].length));
  const lines = [`== ${title}`, ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)];
  process.stdout.write(lines.join('\n') + '\n');
}

export function printJson(bench: string, figures: Record<string, unknown>): void {
  process.stdout.write(
    'BENCH ' + JSON.stringify({ bench, node: process.version, ...figures }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n',
  );
}

export function progress(msg: string): void {
  process.stderr.write(`  .. ${msg}\n`);
}

export function fail(err: unknown): never {
  process.stderr.write(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
