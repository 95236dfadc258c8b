/**
 * `ferry status`: what `GET /status` reports (version, database, Redis, movers, filesystems,
 * jobs). The known fields get one line each; a document of another shape is printed as it is,
 * so a newer API never makes the command fail.
 */
import { Command } from 'commander';
import { Context } from '../context';
import { document, num, str } from '../render';

interface StatusDoc {
  version?: string;
  database?: { ok?: boolean; latencyMs?: number | null; error?: string };
  redis?: { configured?: boolean; ok?: boolean | null; error?: string };
  movers?: { total?: number; healthy?: number };
  filesystems?: { total?: number; byState?: Record<string, number> };
  jobs?: { running?: number; queued?: number };
}

function health(x: { ok?: boolean | null; error?: string } | undefined, extra = ''): string {
  if (x?.ok === true) return `ok${extra}`;
  if (x?.ok === false) return `DOWN${x.error ? `: ${x.error}` : ''}`;
  return '-';
}

function lines(s: StatusDoc, api: string): string[] | undefined {
  if (typeof s !== 'object' || s === null || s.database === undefined || s.movers === undefined) return undefined;
  const latency = num(s.database.latencyMs);
  const byState = Object.entries(s.filesystems?.byState ?? {})
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const rows: Array<[string, string]> = [
    ['api', `${api}${s.version ? ` (version ${s.version})` : ''}`],
    ['database', health(s.database, latency === undefined ? '' : ` (${latency} ms)`)],
    ['redis', s.redis?.configured === false ? 'not used (in-process jobs and events)' : health(s.redis)],
    ['movers', `${str(s.movers.total)} (${str(s.movers.healthy)} healthy)`],
    ['filesystems', `${str(s.filesystems?.total)}${byState ? ` (${byState})` : ''}`],
    ['jobs', `${str(s.jobs?.running)} running, ${str(s.jobs?.queued)} queued`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 3;
  return rows.map(([k, v]) => `${(k + ':').padEnd(width)}${v}`);
}

export function registerStatus(program: Command, ctx: Context): void {
  program
    .command('status')
    .description('overall state: version, database, Redis, movers, filesystems, jobs')
    .addHelpText('after', '\nExits 0 when the API answers, whatever the state it reports (use --json to check fields).')
    .action(async () => {
      const status = await ctx.api().get<StatusDoc>('/status');
      if (ctx.json) return ctx.printJson(status);
      for (const l of lines(status, ctx.api().conn.baseUrl) ?? [`API ${ctx.api().conn.baseUrl}`, ...document(status)]) ctx.out(l);
    });
}
