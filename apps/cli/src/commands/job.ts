/**
 * `ferry job list|watch|cancel`. `watch` polls the job until it ends and exits with its outcome
 * (0 succeeded, 1 failed or cancelled): a progress bar on a terminal, one plain line per change
 * otherwise. A watch outlives a restart of the admin API: while the API is unreachable or
 * answers 502/503/504 it keeps polling for `--retry-for` seconds before giving up with that
 * error's exit code (5 unreachable, 1 for a 5xx).
 */
import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import type { JobDoc } from '../api-types';
import { FINAL_JOB_STATES, JOB_STATES } from '../api-types';
import { Context, secondsArg } from '../context';
import { CliError, ExitCode } from '../exit-code';
import { num, pairs, percent, str, table } from '../render';
import { fetchList, namesById, pageFooter, pageOptions, type PageFlags } from './lists';

export function registerJob(program: Command, ctx: Context): void {
  const job = program.command('job').description('long-running work: format, scrub, fsck');

  pageOptions(job.command('list').description('list jobs with their state and progress'))
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(JOB_STATES))
    .action(async (o: PageFlags & { state?: string }) => {
      const page = await fetchList<JobDoc>(ctx, '/jobs', o, { state: o.state });
      if (ctx.json) return ctx.printJson(page);
      if (page.items.length === 0 && page.total === 0) return ctx.out('no jobs');
      const names = page.items.some((j) => typeof j.params?.filesystemId === 'string') ? await namesById(ctx, '/filesystems') : new Map<string, string>();
      ctx.out(table(['ID', 'TYPE', 'STATE', 'PROGRESS', 'FILESYSTEM', 'CREATED', 'ERROR'], page.items.map((j) => [j.id, str(j.type), str(j.state), percent(j.progress), jobTarget(j, names), str(j.createdAt), str(j.error)])));
      const footer = pageFooter(page);
      if (footer !== undefined) ctx.out(footer);
    });

  watchOptions(job.command('watch').description('follow a job until it ends; the exit code is its outcome').argument('<id>', 'job id'))
    .addHelpText('after', '\nExits 0 when the job succeeds, 1 when it fails or is cancelled (the error is printed), 3 for an unknown id.')
    .action(async (id: string, o: WatchFlags) => {
      ctx.code = await watchJob(ctx, id, o);
    });

  job
    .command('cancel')
    .description('ask a queued or running job to stop')
    .argument('<id>', 'job id')
    .action(async (id: string) => {
      const res = await ctx.api().request<JobDoc | undefined>('POST', `/jobs/${encodeURIComponent(id)}/cancel`);
      if (ctx.json) return ctx.printJson(res.body ?? null);
      ctx.out(`job ${id}: cancel requested${res.body?.state !== undefined ? ` (state ${res.body.state})` : ''}`);
    });
}

export interface WatchFlags {
  interval: number;
  retryFor: number;
}

export function watchOptions(cmd: Command): Command {
  return cmd
    .option('--interval <seconds>', 'time between polls', secondsArg, 1)
    .option('--retry-for <seconds>', 'how long to keep polling while the API is unreachable (an admin-api restart)', secondsArg, 60);
}

/** The filesystem a job works on: its name, else (deleted since) its engine id. */
function jobTarget(j: JobDoc, names: Map<string, string>): string {
  const p = j.params ?? {};
  const name = typeof p.filesystemId === 'string' ? names.get(p.filesystemId) : undefined;
  if (name !== undefined) return name;
  return p.fsid !== undefined ? `fsid ${str(p.fsid)}` : str(p.filesystemId);
}

/** Transient: the API is restarting or a proxy in front of it has no backend right now. */
function transient(err: unknown): boolean {
  if (!(err instanceof CliError)) return false;
  return err.exitCode === ExitCode.Unreachable || err.status === 502 || err.status === 503 || err.status === 504;
}

/** Polls until the job ends; returns the exit code of its outcome. */
export async function watchJob(ctx: Context, id: string, flags: WatchFlags): Promise<number> {
  const path = `/jobs/${encodeURIComponent(id)}`;
  const tty = ctx.io.stderr.isTTY === true;
  // Progress lines never mix into the one JSON document on stdout.
  const line = (s: string): void => {
    if (ctx.json) ctx.io.stderr.write(s + '\n');
    else ctx.out(s);
  };
  let bar: SingleBar | undefined;
  let lastLine = '';
  let lastOk = Date.now();
  let lostNoted = false;
  try {
    for (;;) {
      let j: JobDoc;
      try {
        j = await ctx.api().get<JobDoc>(path);
        lastOk = Date.now();
        if (lostNoted) line(`job ${id}: the API answers again`);
        lostNoted = false;
      } catch (err) {
        if (!transient(err) || Date.now() - lastOk > flags.retryFor * 1000) throw err;
        if (!lostNoted) line(`job ${id}: ${(err as Error).message.split('\n')[0]}; retrying for up to ${flags.retryFor} s`);
        lostNoted = true;
        await ctx.io.sleep(flags.interval * 1000);
        continue;
      }
      const progress = Math.min(1, Math.max(0, num(j.progress) ?? 0));
      const detail = pairs(j.detail);
      const final = FINAL_JOB_STATES.includes(j.state);
      if (tty) {
        const payload = { state: j.state, detail: detail === '' ? '' : ` ${detail}` };
        if (bar === undefined) {
          bar = new SingleBar({ stream: ctx.io.stderr, format: `job ${str(j.type)} [{bar}] {percentage}% {state}{detail}`, hideCursor: false, clearOnComplete: false, etaBuffer: 20 });
          bar.start(1000, Math.round(progress * 1000), payload);
        } else bar.update(Math.round((j.state === 'succeeded' ? 1 : progress) * 1000), payload);
      } else {
        const text = `job ${id} ${str(j.type)}: ${j.state} ${percent(j.state === 'succeeded' ? 1 : progress)}${detail === '' ? '' : ` ${detail}`}`;
        if (text !== lastLine && !final) line(text);
        lastLine = text;
      }
      if (final) {
        bar?.stop();
        bar = undefined;
        return finish(ctx, j);
      }
      await ctx.io.sleep(flags.interval * 1000);
    }
  } finally {
    bar?.stop();
  }
}

function finish(ctx: Context, j: JobDoc): number {
  const ok = j.state === 'succeeded';
  if (ctx.json) ctx.printJson(j);
  else {
    let text = `job ${j.id} ${str(j.type)}: ${j.state}`;
    if (!ok && j.error) text += `: ${j.error}`;
    ctx.out(text);
    if (j.result !== undefined && j.result !== null) ctx.out(`  result: ${pairs(j.result)}`);
  }
  if (!ok && ctx.json) ctx.io.stderr.write(`ferry: job ${j.id} ${j.state}${j.error ? `: ${j.error}` : ''}\n`);
  return ok ? ExitCode.Ok : ExitCode.Failed;
}
