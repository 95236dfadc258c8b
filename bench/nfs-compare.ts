/**
 * Side-by-side NFS benchmark: the same nfsbench runs against Ferry's data mover and against
 * nfs-ganesha (FSAL_VFS) on this machine, one server at a time, and the ratio Ferry/Ganesha per
 * figure (higher is better for Ferry; >= 1.0 is the target). Writes JSON lines and a markdown
 * table to bench/results/.
 *
 * Usage (after `npm run build`): node dist/bench/nfs-compare.js [--quick] [--runs N]
 * The mover inherits the environment, so Ferry's settings apply to it: for example
 * `FERRY_BUSY_POLL_US=100 npm run bench` measures it with busy polling (docs/benchmarks.md).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MoverProcess } from '../test/support/mover-process';
import { NFSBENCH, REPO, sharedDir } from '../test/support/paths';
import { freePort } from '../test/support/ports';

interface Result {
  workload: string;
  phase?: string;
  qd: number;
  conns: number;
  ops_per_s: number;
  MiBps: number;
  cpu_server_s: number;
}

interface Case {
  name: string;
  args: string[];
  /** Which figure of which result row to compare. */
  pick: Array<{ label: string; workload: string; phase?: string; figure: 'MiBps' | 'ops_per_s' }>;
}

const quick = process.argv.includes('--quick');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 1;
const SIZE_MIB = quick ? 256 : 1024;
const FILES = quick ? 2000 : 10000;
const RAND_S = quick ? 5 : 10;
/** nfsbench's READDIR count / READDIRPLUS maxcount (its --dir-bytes default). */
const DIR_BYTES = 32768;

function cases(): Case[] {
  const out: Case[] = [];
  for (const qd of [1, 8, 32]) {
    out.push({
      name: `seq qd${qd}`,
      args: ['-s', String(SIZE_MIB), '-b', '1M', '-q', String(qd), 'seqwrite', 'seqread'],
      pick: [
        { label: `seqwrite 1MiB qd${qd} MiB/s`, workload: 'seqwrite', figure: 'MiBps' },
        { label: `seqread 1MiB qd${qd} MiB/s`, workload: 'seqread', figure: 'MiBps' },
      ],
    });
  }
  out.push({
    name: 'random 4k qd32',
    args: ['-s', String(Math.min(SIZE_MIB, 1024)), '-q', '32', '-t', String(RAND_S), 'randread', 'randwrite'],
    pick: [
      { label: 'randread 4KiB qd32 IOPS', workload: 'randread', figure: 'ops_per_s' },
      { label: 'randwrite 4KiB qd32 IOPS', workload: 'randwrite', figure: 'ops_per_s' },
    ],
  });
  for (const c of [1, 4]) {
    out.push({
      name: `meta c${c}`,
      // READDIRPLUS dircount = maxcount (nfsbench's --dir-bytes default), as the Linux client
      // sends it since "NFS: Set the dircount to the same value as maxcount" (fs/nfs/nfs3xdr.c);
      // nfsbench's own default, maxcount / 8, is what older kernels sent. Ferry honours dircount
      // (Ganesha ignores it), so the older value costs Ferry calls that current clients never make.
      args: ['-F', String(FILES), '-c', String(c), '--dircount', String(DIR_BYTES), 'meta'],
      pick: ['create', 'stat', 'lookup', 'readdir#2', 'readdirplus#2', 'rename', 'remove'].map((phase) => ({
        label: `meta c${c} ${phase} ops/s`,
        workload: 'meta',
        phase,
        figure: 'ops_per_s' as const,
      })),
    });
  }
  return out;
}

function nfsbench(url: string, label: string, serverPid: number, c: Case): Result[] {
  const workloads = c.args.filter((a) => /^(seqwrite|seqread|randread|randwrite|meta|mixed)$/.test(a));
  const opts = c.args.filter((a) => !workloads.includes(a));
  const res = spawnSync(NFSBENCH, ['--json', '--label', label, '--server-pid', String(serverPid), ...opts, url, ...workloads], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = res.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  if (res.status !== 0) throw new Error(`nfsbench ${label} ${c.name} failed (${res.status}):\n${res.stdout}\n${res.stderr}`);
  appendFileSync(resolve(REPO, 'bench/results/nfs-compare.jsonl'), last + '\n');
  return (JSON.parse(last) as { results: Result[] }).results;
}

function pickFigure(rows: Result[], p: Case['pick'][number]): number {
  const row = rows.find((r) => r.workload === p.workload && (p.phase === undefined || r.phase === p.phase));
  if (!row) throw new Error(`no result for ${p.workload} ${p.phase ?? ''}`);
  return row[p.figure];
}

async function main(): Promise<void> {
  mkdirSync(resolve(REPO, 'bench/results'), { recursive: true });
  const peer = resolve(sharedDir(), 'tools/nfsbench/ganesha-peer');
  const work = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
  const gPort = await freePort();
  const gMount = gPort + 1;
  const gState = join(work, 'ganesha-state');
  const gPid = Number(execFileSync(peer, ['start', join(work, 'ganesha-exp'), String(gPort), String(gMount), '--state-dir', gState], { encoding: 'utf8' }).trim());
  const gUrl = execFileSync(peer, ['url', gState], { encoding: 'utf8' }).trim();
  let mover: MoverProcess;
  try {
    mover = await MoverProcess.start({ dataDir: join(work, 'ferry-data'), env: { FERRY_POOL_SIZE: '16G', FERRY_LOG_LEVEL: 'warn' } });
  } catch (err) {
    execFileSync(peer, ['stop', gState]);
    throw err;
  }
  const mUrl = mover.url('/export');
  const table: Array<{ label: string; ferry: number; ganesha: number }> = [];
  try {
    for (const c of cases()) {
      for (let run = 0; run < RUNS; run++) {
        const g = nfsbench(gUrl, `ganesha ${c.name}`, gPid, c);
        const m = nfsbench(mUrl, `ferry ${c.name}`, mover.pid, c);
        for (const p of c.pick) table.push({ label: p.label, ferry: pickFigure(m, p), ganesha: pickFigure(g, p) });
        process.stdout.write(`done: ${c.name} run ${run + 1}\n`);
      }
    }
  } finally {
    const mem = mover.memory();
    await mover.stop();
    execFileSync(peer, ['stop', gState]);
    const lines = [
      `| figure | Ferry | Ganesha | ratio |`,
      `| --- | ---: | ---: | ---: |`,
      ...table.map((r) => `| ${r.label} | ${r.ferry.toFixed(1)} | ${r.ganesha.toFixed(1)} | ${(r.ferry / r.ganesha).toFixed(2)} |`),
      '',
      `Ferry data mover peak RSS: ${(mem.peakKiB / 1024).toFixed(0)} MiB`,
    ];
    const md = lines.join('\n');
    writeFileSync(resolve(REPO, 'bench/results/nfs-compare.md'), `# nfs-compare ${new Date().toISOString()}\n\n${md}\n`);
    process.stdout.write(md + '\n');
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
