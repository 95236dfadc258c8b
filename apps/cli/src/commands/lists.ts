/**
 * Lists and name lookups over the paginated endpoints: a list command reads every page unless
 * it is given `--limit`/`--offset`, and a name resolves to an id by reading pages until it is
 * found (the API has no name filter in its contract).
 */
import type { Command } from 'commander';
import type { Page, Query } from '../api-client';
import type { ExportDoc, FilesystemDoc } from '../api-types';
import { Context, MAX_PAGE, intArg } from '../context';
import { CliError, ExitCode } from '../exit-code';

export interface PageFlags {
  limit?: number;
  offset?: number;
}

export function pageOptions(cmd: Command): Command {
  return cmd
    .option('--limit <n>', `show one page of at most N items (1..${MAX_PAGE}) instead of all`, intArg(1, MAX_PAGE))
    .option('--offset <n>', 'skip the first N items (one page)', intArg(0, Number.MAX_SAFE_INTEGER));
}

export function fetchList<T>(ctx: Context, path: string, flags: PageFlags, filter: Query = {}): Promise<Page<T>> {
  if (flags.limit === undefined && flags.offset === undefined) return ctx.api().all<T>(path, ctx.pageSize, filter);
  return ctx.api().page<T>(path, flags.limit ?? 50, flags.offset ?? 0, filter);
}

/** "items 3-4 of 9" under a table that shows one page only. */
export function pageFooter(page: Page<unknown>): string | undefined {
  if (page.offset === 0 && page.items.length >= page.total) return undefined;
  if (page.items.length === 0) return `no items at offset ${page.offset} (${page.total} in all)`;
  return `items ${page.offset + 1}-${page.offset + page.items.length} of ${page.total}`;
}

export async function filesystemByName(ctx: Context, name: string): Promise<FilesystemDoc> {
  const fs = await ctx.api().find<FilesystemDoc>('/filesystems', ctx.pageSize, (f) => f.name === name);
  if (fs === undefined) throw new CliError(`no filesystem named "${name}" (see ferry fs list)`, ExitCode.NotFound);
  return fs;
}

export async function exportByPath(ctx: Context, path: string): Promise<ExportDoc> {
  const e = await ctx.api().find<ExportDoc>('/exports', ctx.pageSize, (x) => x.path === path);
  if (e === undefined) throw new CliError(`no export at ${path} (see ferry export list)`, ExitCode.NotFound);
  return e;
}

/** id -> name for resources that another table shows by name. */
export async function namesById(ctx: Context, path: string): Promise<Map<string, string>> {
  const page = await ctx.api().all<{ id: string; name: string }>(path, ctx.pageSize);
  return new Map(page.items.map((x) => [x.id, x.name]));
}
