/**
 * The offline storage commands: they open the pool devices themselves, never the API. `fsck`
 * refuses while a mover holds the data directory. The engine is loaded only when one of these
 * runs, so the REST commands start without it.
 */
import { Command } from 'commander';
import { resolve } from 'node:path';
import { DEFAULT_FSID, dataDirHolder, poolDevicePath } from '../../../data-mover/src/embedded-store';
import { Context } from '../context';
import { CliError, ExitCode } from '../exit-code';

const bigintJson = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

async function fsck(ctx: Context, opts: { dataDir: string; fsid: string }): Promise<number> {
  const { checkFileSystem, openVolume } = await import('@ferry/fs');
  const { Pool } = await import('@ferry/pool');
  const dataDir = resolve(ctx.io.cwd, opts.dataDir);
  const holder = await dataDirHolder(dataDir);
  if (holder !== undefined) throw new CliError(`${dataDir} is in use by the data mover with pid ${holder}: stop it first (fsck is offline)`, ExitCode.Failed);
  if (!/^\d+$/.test(opts.fsid)) throw new CliError(`--fsid ${opts.fsid}: a decimal filesystem id is required`, ExitCode.Usage);
  const fsid = BigInt(opts.fsid);
  const stderr = ctx.io.stderr;
  const pool = await Pool.open([poolDevicePath(dataDir)], { readOnly: true });
  try {
    const info = pool.listFilesystems().find((f) => f.fsId === fsid);
    if (!info) throw new CliError(`filesystem ${fsid} not found in the pool of ${dataDir}`, ExitCode.NotFound);
    const space = await pool.openSpace(fsid, { maxBytes: info.bytes });
    const volume = await openVolume(space, { readOnly: true });
    try {
      const report = await checkFileSystem(volume, {
        onProgress: (done, total) => {
          if (!stderr.isTTY) return;
          const pct = total > 0 ? Math.floor((done / total) * 100) : 0;
          stderr.write(`\rchecking: ${pct}% (${done}/${total})`);
        },
      });
      if (stderr.isTTY) stderr.write('\n');
      if (ctx.json) ctx.out(JSON.stringify(report, bigintJson));
      else {
        ctx.out(`filesystem ${fsid} in ${dataDir}: ${report.clean ? 'clean' : `${report.problems.length} problem(s)`}`);
        for (const [k, v] of Object.entries(report.counts)) ctx.out(`  ${k}: ${String(v)}`);
        for (const p of report.problems) ctx.out(`  PROBLEM: ${p}`);
      }
      return report.clean ? ExitCode.Ok : ExitCode.Failed;
    } finally {
      await volume.close();
    }
  } finally {
    await pool.close();
  }
}

async function poolImport(ctx: Context, devices: string[]): Promise<number> {
  const { importPool } = await import('@ferry/pool');
  const found = await importPool(devices.map((d) => resolve(ctx.io.cwd, d)));
  if (ctx.json) {
    ctx.out(JSON.stringify(found, bigintJson));
    return ExitCode.Ok;
  }
  ctx.out(`pool ${found.poolId}: ${found.devices.length} device(s), ${found.totalSlices} slices of ${found.sliceBytes} bytes, ${found.freeSlices} free`);
  for (const d of found.devices) ctx.out(`  device ${d.deviceIndex} ${d.path}: ${d.sizeBytes} bytes, ${d.totalSlices} slices (${d.freeSlices} free)`);
  if (found.filesystems.length === 0) ctx.out('  no filesystems');
  for (const f of found.filesystems) ctx.out(`  filesystem ${f.fsId}: ${f.slices} slice(s), ${f.bytes} bytes${f.complete ? '' : ' (INCOMPLETE: a slice is missing)'}`);
  for (const w of found.warnings) ctx.out(`  warning: ${w}`);
  return ExitCode.Ok;
}

export function registerStorage(program: Command, ctx: Context): void {
  program
    .command('fsck')
    .description('check a filesystem offline: structure, checksums, link counts, directory entries, space accounting')
    .option('--data-dir <dir>', 'data directory of the mover (FERRY_DATA_DIR)', ctx.io.env.FERRY_DATA_DIR ?? './data')
    .option('--fsid <id>', 'filesystem id', DEFAULT_FSID.toString())
    .addHelpText('after', '\nOffline: stop the mover first. Exits 0 when clean, 1 when problems are found or the mover runs.')
    .action(async (o: { dataDir: string; fsid: string }) => {
      ctx.code = await fsck(ctx, o);
    });
  const pool = program.command('pool').description('block pool commands (offline, on the devices)');
  pool
    .command('import')
    .description('read a pool from its devices alone and list the filesystems on it (read-only)')
    .argument('<devices...>', 'pool device files or block devices')
    .action(async (devices: string[]) => {
      ctx.code = await poolImport(ctx, devices);
    });
}
