/**
 * `ferry export add|list|set|remove`. An export is addressed by its path (unique) and names its
 * filesystem by name; both resolve to ids here. `set` sends only the flags given, so a rule the
 * user did not mention keeps its value (an export stays on its filesystem: the API's update has
 * no filesystem field). The API applies a change to the movers within a second.
 */
import { Command, Option } from 'commander';
import type { ExportDoc } from '../api-types';
import { Context, intArg, listArg } from '../context';
import { CliError, ExitCode } from '../exit-code';
import { str, table, yesNo } from '../render';
import { exportByPath, fetchList, filesystemByName, namesById, pageFooter, pageOptions, type PageFlags } from './lists';

interface RuleFlags {
  /** `add` only. */
  fs?: string;
  clients?: string[];
  ro?: boolean;
  rw?: boolean;
  rootSquash?: boolean;
  allSquash?: boolean;
  anonuid?: number;
  anongid?: number;
  secure?: boolean;
  insecure?: boolean;
}

const ID_MAX = 2 ** 32 - 1;

/** The rule flags of `add` and `set`; `add` also names the filesystem and must name the clients. */
function ruleOptions(cmd: Command, adding: boolean): Command {
  if (adding) cmd.requiredOption('--fs <name>', 'the filesystem to export');
  // No default client list: exporting to everyone must be asked for (`--clients '*'`).
  const clients = new Option('--clients <list>', `comma-separated clients allowed to mount: *, IP addresses, CIDR blocks (e.g. 10.0.0.0/8,192.168.1.7)${adding ? '' : '; replaces the list'}`).argParser(listArg);
  if (adding) clients.makeOptionMandatory();
  return cmd
    .addOption(clients)
    .addOption(new Option('--ro', 'read-only').conflicts('rw'))
    .addOption(new Option('--rw', 'read-write').conflicts('ro'))
    .option('--root-squash', 'map uid 0 to the anonymous user')
    .option('--no-root-squash', 'let uid 0 act as root')
    .option('--all-squash', 'map every user to the anonymous user')
    .option('--no-all-squash', 'keep the callers\' uids')
    .option('--anonuid <n>', 'uid of the anonymous user', intArg(0, ID_MAX))
    .option('--anongid <n>', 'gid of the anonymous user', intArg(0, ID_MAX))
    .addOption(new Option('--secure', 'accept clients from privileged ports (< 1024) only').conflicts('insecure'))
    .addOption(new Option('--insecure', 'accept clients from any port').conflicts('secure'));
}

/** The rule fields the flags name; undefined ones are left to the API (add) or unchanged (set). */
function ruleBody(o: RuleFlags): Record<string, unknown> {
  const body: Record<string, unknown> = {
    clients: o.clients,
    access: o.ro ? 'ro' : o.rw ? 'rw' : undefined,
    rootSquash: o.rootSquash,
    allSquash: o.allSquash,
    anonUid: o.anonuid,
    anonGid: o.anongid,
    secure: o.secure ? true : o.insecure ? false : undefined,
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

function squash(e: ExportDoc): string {
  if (e.allSquash === true) return 'all';
  if (e.rootSquash === true) return 'root';
  if (e.rootSquash === false) return 'none';
  return '-';
}

export function registerExport(program: Command, ctx: Context): void {
  const exp = program.command('export').description('NFS exports: which clients may mount which filesystem, and how');

  ruleOptions(exp.command('add').description('export a filesystem at a path').argument('<path>', 'export path: absolute and normalised, e.g. /data'), true).action(async (path: string, o: RuleFlags) => {
    const f = await filesystemByName(ctx, o.fs ?? '');
    const res = await ctx.api().request<ExportDoc | undefined>('POST', '/exports', { body: { path, filesystemId: f.id, ...ruleBody(o) } });
    if (ctx.json) return ctx.printJson(res.body ?? null);
    ctx.out(`export ${path}: filesystem ${f.name}${res.body ? `, ${describe(res.body)}` : ''}`);
  });

  pageOptions(exp.command('list').description('list exports and their client rules')).action(async (o: PageFlags) => {
    const page = await fetchList<ExportDoc>(ctx, '/exports', o);
    if (ctx.json) return ctx.printJson(page);
    if (page.items.length === 0 && page.total === 0) return ctx.out('no exports');
    const names = page.items.some((e) => e.filesystem?.name === undefined && e.filesystemId) ? await namesById(ctx, '/filesystems') : new Map<string, string>();
    ctx.out(
      table(
        ['PATH', 'FILESYSTEM', 'ACCESS', 'CLIENTS', 'SQUASH', 'ANONUID', 'ANONGID', 'SECURE'],
        page.items.map((e) => [
          e.path,
          e.filesystem?.name ?? (e.filesystemId ? (names.get(e.filesystemId) ?? e.filesystemId) : '-'),
          str(e.access),
          e.clients && e.clients.length > 0 ? e.clients.join(',') : '-',
          squash(e),
          str(e.anonUid),
          str(e.anonGid),
          yesNo(e.secure),
        ]),
      ),
    );
    const footer = pageFooter(page);
    if (footer !== undefined) ctx.out(footer);
  });

  ruleOptions(exp.command('set').description('change the rules of an export (only the flags given)').argument('<path>', 'export path'), false).action(async (path: string, o: RuleFlags) => {
    const body = ruleBody(o);
    if (Object.keys(body).length === 0) throw new CliError(`export set ${path}: nothing to change (give at least one flag; see ferry export set --help)`, ExitCode.Usage);
    const e = await exportByPath(ctx, path);
    const res = await ctx.api().request<ExportDoc | undefined>('PATCH', `/exports/${encodeURIComponent(e.id)}`, { body });
    if (ctx.json) return ctx.printJson(res.body ?? null);
    ctx.out(`export ${path}: ${res.body ? describe(res.body) : 'changed'}`);
  });

  exp.command('remove')
    .description('stop exporting a path (the filesystem and its data stay)')
    .argument('<path>', 'export path')
    .action(async (path: string) => {
      const e = await exportByPath(ctx, path);
      const res = await ctx.api().request<unknown>('DELETE', `/exports/${encodeURIComponent(e.id)}`);
      if (ctx.json) return ctx.printJson(res.body ?? null);
      ctx.out(`export ${path}: removed`);
    });
}

function describe(e: ExportDoc): string {
  const parts = [str(e.access), `clients ${e.clients && e.clients.length > 0 ? e.clients.join(',') : '-'}`, `squash ${squash(e)}`];
  if (e.anonUid !== undefined || e.anonGid !== undefined) parts.push(`anon ${str(e.anonUid)}:${str(e.anonGid)}`);
  if (e.secure !== undefined) parts.push(e.secure ? 'secure' : 'insecure');
  return parts.join(', ');
}
