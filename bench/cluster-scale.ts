/**
 * `npm run bench:cluster`: a cluster on this machine (test/support/cluster.ts: admin-api, one
 * director, N data movers on one pool file) with one filesystem per mover.
 *
 * 1. With one mover: the same nfsbench runs direct to the mover and through the director; the
 *    ratio director/direct is the director's cost (target 0.9 or better).
 * 2. With 1, 2 and 3 movers: nfsbench on every filesystem at once through the director; the
 *    aggregate and its ratio to one mover.
 *
 * Workloads: sequential write 256 MiB at 1 MiB qd 8, random 4 KiB reads qd 16 for 10 s, and the
 * metadata workload with 2000 files (create, stat). Everything runs on one machine, so the movers,
 * the director and the clients share its cores: the scaling figures show where the CPU goes,
 * never what separate machines would do. Results go to bench/results/cluster-scale.jsonl and
 * stdout.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { Cluster } from '../test/support/cluster';
import { NFSBENCH, REPO } from '../test/support/paths';

interface Result {
  workload: string;
  phase: string;
  ops_per_s: number;
  MiBps: number;
  errors: number;
}

interface Figures {
  seqwriteMiBps: number;
  randreadIops: number;
  createPerS: number;
  statPerS: number;
}

const CASES: Array<{ args: string[]; workloads: string[] }> = [
  { args: ['-s', '256', '-b', '1024', '-q', '8'], workloads: ['seqwrite'] },
  { args: ['-s', '256', '-t', '10', '-q', '16'], workloads: ['randread'] },
  { args: ['-F', '2000'], workloads: ['meta'] },
];

function run(url: string, args: string[], workloads: string[]): Promise<Result[]> {
  return new Promise((resolveRun, reject) => {
    const p = spawn(NFSBENCH, ['--json', ...args, url, ...workloads], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`nfsbench ${workloads.join(',')} on ${url} failed (${code}):\n${out}\n${err}`));
      resolveRun((JSON.parse(last) as { results: Result[] }).results);
    });
  });
}

async function figures(urls: string[]): Promise<Figures> {
  const f: Figures = { seqwriteMiBps: 0, randreadIops: 0, createPerS: 0, statPerS: 0 };
  for (const c of CASES) {
    // Every filesystem at once: the aggregate is the sum of what each client got.
    const all = await Promise.all(urls.map((u) => run(u, c.args, c.workloads)));
    for (const rows of all) {
      for (const r of rows) {
        if (r.workload === 'seqwrite' && r.phase !== 'prep') f.seqwriteMiBps += r.MiBps;
        if (r.workload === 'randread') f.randreadIops += r.ops_per_s;
        if (r.workload === 'meta' && r.phase === 'create') f.createPerS += r.ops_per_s;
        if (r.workload === 'meta' && r.phase === 'stat') f.statPerS += r.ops_per_s;
      }
    }
  }
  return f;
}

const url = (port: number, path: string): string => `nfs://127.0.0.1${path}?version=3&nfsport=${port}&mountport=${port}`;
const fmt = (f: Figures): string =>
  `seqwrite ${f.seqwriteMiBps.toFixed(1)} MiB/s, randread ${f.randreadIops.toFixed(0)} IOPS, create ${f.createPerS.toFixed(0)}/s, stat ${f.statPerS.toFixed(0)}/s`;
const ratio = (a: Figures, b: Figures): string =>
  `seqwrite ${(a.seqwriteMiBps / b.seqwriteMiBps).toFixed(2)}, randread ${(a.randreadIops / b.randreadIops).toFixed(2)}, create ${(a.createPerS / b.createPerS).toFixed(2)}, stat ${(a.statPerS / b.statPerS).toFixed(2)}`;

async function main(): Promise<void> {
  mkdirSync(resolve(REPO, 'bench/results'), { recursive: true });
  const record = (o: object): void => appendFileSync(resolve(REPO, 'bench/results/cluster-scale.jsonl'), JSON.stringify({ time: new Date().toISOString(), ncpu: cpus().length, ...o }) + '\n');
  const lines: string[] = [];
  let one: Figures | undefined;
  for (const n of [1, 2, 3]) {
    const c = await Cluster.start({ movers: n });
    try {
      const fss = [];
      for (let i = 1; i <= n; i++) fss.push(await c.createExportedFilesystem(`bench${i}`, 8 * 1024 ** 3));
      await c.waitSettled((rows) => rows.length === n && new Set(rows.map((r) => r.owner)).size === n);
      if (n === 1) {
        // The owning mover's own NFS port (a client from 127.0.0.1 without a PROXY header is
        // itself the client) against the director's.
        const rows = await c.leases();
        const owner = c.movers.get(rows[0]!.owner!)!;
        const direct = await figures([url(Number(owner.env.FERRY_NFS_PORT), fss[0]!.path)]);
        const via = await figures([url(c.directorPort, fss[0]!.path)]);
        record({ case: 'direct', movers: 1, ...direct });
        record({ case: 'director', movers: 1, ...via });
        lines.push(`direct to the mover:  ${fmt(direct)}`);
        lines.push(`through the director: ${fmt(via)}`);
        lines.push(`director / direct:    ${ratio(via, direct)}`);
        one = via;
      } else {
        const agg = await figures(fss.map((f) => url(c.directorPort, f.path)));
        record({ case: 'aggregate', movers: n, ...agg });
        lines.push(`${n} movers, ${n} clients through the director: ${fmt(agg)}`);
        lines.push(`  vs 1 mover: ${ratio(agg, one!)}`);
      }
    } finally {
      await c.stop();
    }
  }
  process.stdout.write(`\ncluster scale (${cpus().length} cores, one machine)\n${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
