/**
 * `ferry fs create|list|grow|delete`. Filesystems are named by the user and addressed by id in
 * the API, so every command but `create` and `list` first resolves the name. `delete` destroys
 * data: it asks for the name on a terminal (or takes --yes) and the API checks it once more
 * through `?confirm=NAME`.
 */
import { Command } from 'commander';
import type { FilesystemDoc } from '../api-types';
import { Context, sizeArg } from '../context';
import { CliError, ExitCode } from '../exit-code';
import { bytes, str, table } from '../render';
import { watchJob, watchOptions, type WatchFlags } from './job';
import { fetchList, filesystemByName, namesById, pageFooter, pageOptions, type PageFlags } from './lists';

/** The format job's id in the 202 answer, whichever way the API wraps it. */
function jobIdOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const b = body as { job?: { id?: unknown } | null; jobId?: unknown; id?: unknown; type?: unknown };
  if (typeof b.job?.id === 'string') return b.job.id;
  if (typeof b.jobId === 'string') return b.jobId;
  if (b.type === 'format' && typeof b.id === 'string') return b.id;
  return undefined;
}

export function registerFs(program: Command, ctx: Context): void {
  const fs = program.command('fs').description('filesystems: create, list, grow, delete');

  watchOptions(
    fs
      .command('create')
      .description('create a filesystem with a size limit; formatting runs as a job')
      .argument('<name>', 'filesystem name: [a-z0-9][a-z0-9._-]{0,62}')
      .requiredOption('--size <size>', 'size limit: bytes or 512M, 10G, 1T', sizeArg)
      .option('--wait', 'follow the format job until it ends; the exit code is its outcome'),
  ).action(async (name: string, o: { size: number; wait?: boolean } & WatchFlags) => {
    const res = await ctx.api().request<unknown>('POST', '/filesystems', { body: { name, sizeBytes: o.size } });
    const jobId = jobIdOf(res.body);
    if (o.wait && jobId !== undefined) {
      if (!ctx.json) ctx.out(`filesystem ${name}: ${bytes(o.size)}, formatting (job ${jobId})`);
      ctx.code = await watchJob(ctx, jobId, o);
      return;
    }
    if (ctx.json) return ctx.printJson(res.body ?? null);
    ctx.out(`filesystem ${name}: ${bytes(o.size)}, ${jobId !== undefined ? `formatting (job ${jobId}; follow it with: ferry job watch ${jobId})` : 'created'}`);
  });

  pageOptions(fs.command('list').description('list filesystems with their size and use')).action(async (o: PageFlags) => {
    const page = await fetchList<FilesystemDoc>(ctx, '/filesystems', o);
    if (ctx.json) return ctx.printJson(page);
    if (page.items.length === 0 && page.total === 0) return ctx.out('no filesystems');
    const movers = page.items.some((f) => f.ownerMoverId) ? await namesById(ctx, '/movers') : new Map<string, string>();
    ctx.out(
      table(
        ['NAME', 'FSID', 'STATE', 'SIZE', 'USED', 'FREE', 'FILES', 'MOVER'],
        page.items.map((f) => [
          f.name,
          str(f.fsid),
          str(f.state),
          bytes(f.sizeBytes),
          bytes(f.usage?.usedBytes),
          bytes(f.usage?.freeBytes),
          str(f.usage?.files),
          f.ownerMoverId ? (movers.get(f.ownerMoverId) ?? f.ownerMoverId) : '-',
        ]),
      ),
    );
    const footer = pageFooter(page);
    if (footer !== undefined) ctx.out(footer);
  });

  fs.command('grow')
    .description('raise the size limit of a filesystem (online; it never shrinks)')
    .argument('<name>', 'filesystem name')
    .requiredOption('--size <size>', 'the new size limit: bytes or 512M, 20G, 1T', sizeArg)
    .action(async (name: string, o: { size: number }) => {
      const f = await filesystemByName(ctx, name);
      const res = await ctx.api().request<FilesystemDoc | undefined>('PATCH', `/filesystems/${encodeURIComponent(f.id)}`, { body: { sizeBytes: o.size } });
      if (ctx.json) return ctx.printJson(res.body ?? null);
      ctx.out(`filesystem ${name}: size ${bytes(res.body?.sizeBytes ?? o.size)}`);
    });

  fs.command('delete')
    .description('delete an unexported filesystem and all its data')
    .argument('<name>', 'filesystem name')
    .option('--yes', 'do not ask for the name (required when stdin is not a terminal)')
    .addHelpText('after', '\nThe API refuses (exit 1) while the filesystem is exported: remove its exports first.')
    .action(async (name: string, o: { yes?: boolean }) => {
      if (!o.yes) {
        if (!ctx.io.stdinIsTTY) throw new CliError(`fs delete ${name}: pass --yes to delete without a question (stdin is not a terminal)`, ExitCode.Usage);
        const answer = await ctx.io.prompt(`Delete filesystem "${name}" and all its data? Type its name to confirm: `);
        if (answer.trim() !== name) throw new CliError(`fs delete ${name}: not confirmed, nothing deleted`, ExitCode.Failed);
      }
      const f = await filesystemByName(ctx, name);
      const res = await ctx.api().request<unknown>('DELETE', `/filesystems/${encodeURIComponent(f.id)}`, { query: { confirm: name } });
      if (ctx.json) return ctx.printJson(res.body ?? null);
      const jobId = jobIdOf(res.body);
      ctx.out(`filesystem ${name}: ${jobId !== undefined ? `deleting (job ${jobId})` : 'deleted'}`);
    });
}
