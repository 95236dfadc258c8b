/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): self time by file and by function, and
 * inclusive time by function (each function counted once per sample however deep it recurses),
 * as a percentage of the profiled wall time. Idle and GC are shown as their own rows, so "where
 * the time goes" separates waiting for the disk from computing.
 *
 * `--window FN` restricts the summary to the span from the first to the last sample whose stack
 * holds a function named FN (e.g. `openVolume`), idle samples within it included: the
 * breakdown of one phase (recovery) inside a longer run.
 *
 * Usage: node dist/bench/engine/profile-summary.js PROFILE.cpuprofile [...] [--top 25]
 *        [--window FN]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function summarise(path: string, top: number, window: string | undefined): void {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const fileOf = (n: ProfileNode): string => {
    const u = n.callFrame.url;
    if (!u) return n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : '(native)';
    if (u.startsWith('node:')) return u;
    const m = /\/(libs|apps|bench)\/(.*)$/.exec(u);
    return m ? `${m[1]}/${m[2]}` : basename(u);
  };
  const fnOf = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'} ${fileOf(n)}:${n.callFrame.lineNumber + 1}`;
  const selfByFn = new Map<string, number>();
  const selfByFile = new Map<string, number>();
  const totalByFn = new Map<string, number>();
  const inStack = (sample: number, fn: string): boolean => {
    for (let id: number | undefined = sample; id !== undefined; id = parent.get(id)) if (byId.get(id)?.callFrame.functionName === fn) return true;
    return false;
  };
  let first = 0;
  let last = p.samples.length - 1;
  if (window !== undefined) {
    first = p.samples.findIndex((s) => inStack(s, window));
    if (first < 0) throw new Error(`no sample has ${window} on its stack`);
    while (last > first && !inStack(p.samples[last] ?? -1, window)) last--;
  }
  let totalUs = 0;
  for (let i = first; i <= last; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    totalUs += dt;
    const leaf = byId.get(p.samples[i] ?? -1);
    if (!leaf) continue;
    selfByFn.set(fnOf(leaf), (selfByFn.get(fnOf(leaf)) ?? 0) + dt);
    selfByFile.set(fileOf(leaf), (selfByFile.get(fileOf(leaf)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id);
      if (!n) break;
      const k = fnOf(n);
      if (seen.has(k)) continue;
      seen.add(k);
      totalByFn.set(k, (totalByFn.get(k) ?? 0) + dt);
    }
  }
  const pct = (us: number): string => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%`;
  const show = (title: string, m: Map<string, number>, skipRoot: boolean): void => {
    process.stdout.write(`-- ${title}\n`);
    const rows = [...m.entries()].filter(([k]) => !(skipRoot && k.startsWith('(root)'))).sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [k, us] of rows) process.stdout.write(`  ${pct(us)}  ${k}\n`);
  };
  const span = window === undefined ? '' : ` (window: ${window})`;
  process.stdout.write(`== ${path}${span}: ${(totalUs / 1e6).toFixed(2)} s profiled, ${last - first + 1} samples\n`);
  show('self time by file', selfByFile, false);
  show('self time by function', selfByFn, false);
  show('inclusive time by function', totalByFn, true);
}

function main(): void {
  const args = process.argv.slice(2);
  let top = 25;
  let window: string | undefined;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else if (args[i] === '--window') window = args[++i];
    else files.push(args[i] ?? '');
  }
  if (files.length === 0) throw new Error('usage: profile-summary PROFILE.cpuprofile [...] [--top N]');
  for (const f of files) summarise(f, top, window);
}

main();
