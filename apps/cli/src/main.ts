#!/usr/bin/env node
/**
 * `ferry`: the command line. Offline storage commands today (fsck, pool import); the REST-API
 * commands (status, fs, export, mover, job) arrive with the control plane.
 *
 * Exit codes: 0 success / clean, 1 problems found (fsck) or the command failed, 2 usage error.
 */
import { Command, CommanderError } from 'commander';
import { resolve } from 'node:path';
import { checkFileSystem, openVolume } from '@ferry/fs';
import { Pool, importPool } from '@ferry/pool';
import { DEFAULT_FSID, dataDirHolder, poolDevicePath } from '../../data-mover/src/embedded-store';

function out(s: string): void {
  process.stdout.write(s + '\n');
}

function progressLine(done: number, total: number): void {
  if (!process.stderr.isTTY) return;
  const pct = total > 0 ? Math.floor((done / total) * 100) : 0;
  process.stderr.write(`\rchecking: ${pct}% (${done}/${total})`);
}

async function fsck(opts: { dataDir: string; fsid: string; json?: boolean }): Promise<number> {
  const dataDir = resolve(opts.dataDir);
  const holder = await dataDirHolder(dataDir);
  if (holder !== undefined) throw new Error(`${dataDir} is in use by the data mover with pid ${holder}: stop it first (fsck is offline)`);
  if (!/^\d+$/.test(opts.fsid)) throw new Error(`--fsid ${opts.fsid}: a decimal filesystem id is required`);
  const fsid = BigInt(opts.fsid);
  const pool = await Pool.open([poolDevicePath(dataDir)], { readOnly: true });
  try {
    const info = pool.listFilesystems().find((f) => f.fsId === fsid);
    if (!info) throw new Error(`filesystem ${fsid} not found in the pool of ${dataDir}`);
    const space = await pool.openSpace(fsid, { maxBytes: info.bytes });
    const volume = await openVolume(space, { readOnly: true });
    try {
      const report = await checkFileSystem(volume, { onProgress: progressLine });
      if (process.stderr.isTTY) process.stderr.write('\n');
      if (opts.json) out(JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
      else {
        out(`filesystem ${fsid} in ${dataDir}: ${report.clean ? 'clean' : `${report.problems.length} problem(s)`}`);
        for (const [k, v] of Object.entries(report.counts)) out(`  ${k}: ${String(v)}`);
        for (const p of report.problems) out(`  PROBLEM: ${p}`);
      }
      return report.clean ? 0 : 1;
    } finally {
      await volume.close();
    }
  } finally {
    await pool.close();
  }
}

async function poolImport(devices: string[], opts: { json?: boolean }): Promise<number> {
  const found = await importPool(devices.map((d) => resolve(d)));
  if (opts.json) {
    out(JSON.stringify(found, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    return 0;
  }
  out(`pool ${found.poolId}: ${found.devices.length} device(s), ${found.totalSlices} slices of ${found.sliceBytes} bytes, ${found.freeSlices} free`);
  for (const d of found.devices) out(`  device ${d.deviceIndex} ${d.path}: ${d.sizeBytes} bytes, ${d.totalSlices} slices (${d.freeSlices} free)`);
  if (found.filesystems.length === 0) out('  no filesystems');
  for (const f of found.filesystems) out(`  filesystem ${f.fsId}: ${f.slices} slice(s), ${f.bytes} bytes${f.complete ? '' : ' (INCOMPLETE: a slice is missing)'}`);
  for (const w of found.warnings) out(`  warning: ${w}`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('ferry').description('Ferry NAS command line').exitOverride().showHelpAfterError();
  program
    .command('fsck')
    .description('check a filesystem offline: structure, checksums, link counts, directory entries, space accounting')
    .option('--data-dir <dir>', 'data directory of the mover', process.env.FERRY_DATA_DIR ?? './data')
    .option('--fsid <id>', 'filesystem id', DEFAULT_FSID.toString())
    .option('--json', 'machine-readable report')
    .action(async (o: { dataDir: string; fsid: string; json?: boolean }) => {
      code = await fsck(o);
    });
  const pool = program.command('pool').description('block pool commands');
  pool
    .command('import')
    .description('read a pool from its devices alone and list the filesystems on it (read-only)')
    .argument('<devices...>', 'pool device files or block devices')
    .option('--json', 'machine-readable output')
    .action(async (devices: string[], o: { json?: boolean }) => {
      code = await poolImport(devices, o);
    });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  return code;
}

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ferry: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
