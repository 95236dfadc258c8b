/** `ferry mover list`: the registered data movers, their health and the filesystems each owns. */
import { Command } from 'commander';
import type { MoverDoc } from '../api-types';
import { Context } from '../context';
import { str, table, yesNo } from '../render';
import { fetchList, pageFooter, pageOptions, type PageFlags } from './lists';

function owned(list: unknown[] | undefined): string {
  if (list === undefined) return '-';
  if (list.length === 0) return 'none';
  return list
    .map((x) => (x !== null && typeof x === 'object' ? str((x as { name?: unknown; id?: unknown }).name ?? (x as { id?: unknown }).id) : str(x)))
    .join(',');
}

export function registerMover(program: Command, ctx: Context): void {
  const mover = program.command('mover').description('data movers: the processes that serve NFS');
  pageOptions(mover.command('list').description('list data movers: state, health (heartbeat within 10 s), filesystems owned')).action(async (o: PageFlags) => {
    const page = await fetchList<MoverDoc>(ctx, '/movers', o);
    if (ctx.json) return ctx.printJson(page);
    if (page.items.length === 0 && page.total === 0) return ctx.out('no movers');
    ctx.out(
      table(
        ['NAME', 'STATE', 'HEALTHY', 'ADDRESS', 'NFS', 'HTTP', 'FILESYSTEMS', 'LAST HEARTBEAT'],
        page.items.map((m) => [m.name, str(m.state), yesNo(m.healthy), str(m.address), str(m.nfsPort), str(m.httpPort), owned(m.filesystems), str(m.lastHeartbeat)]),
      ),
    );
    const footer = pageFooter(page);
    if (footer !== undefined) ctx.out(footer);
  });
}
