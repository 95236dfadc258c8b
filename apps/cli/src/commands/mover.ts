/** `ferry mover list|drain`: the registered data movers, their health and the filesystems each
 * owns; drain asks the controller to move everything off one (and can wait until it has). */
import { Command } from 'commander';
import type { MoverDoc } from '../api-types';
import { Context } from '../context';
import { CliError, ExitCode } from '../exit-code';
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

  mover
    .command('drain')
    .description('move every filesystem off a mover (before stopping it); it is then "drained"')
    .argument('<name>', 'mover name')
    .option('--wait [seconds]', 'wait until the mover is drained (default up to 300 s; exit 1 if not by then)')
    .addHelpText('after', '\nA drained mover gets no filesystem until it starts again (it then registers as active).')
    .action(async (name: string, o: { wait?: boolean | string }) => {
      const m = await ctx.api().find<MoverDoc>('/movers', ctx.pageSize, (x) => x.name === name);
      if (m === undefined) throw new CliError(`mover ${name}: no such mover`, ExitCode.NotFound);
      let doc = (await ctx.api().request<MoverDoc>('POST', `/movers/${encodeURIComponent(m.id)}/drain`)).body;
      if (o.wait !== undefined && o.wait !== false) {
        const seconds = o.wait === true ? 300 : Number(o.wait);
        if (!Number.isFinite(seconds) || seconds <= 0) throw new CliError(`--wait ${String(o.wait)}: a number of seconds`, ExitCode.Usage);
        const deadline = Date.now() + seconds * 1000;
        while (doc.state !== 'drained' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 500));
          doc = await ctx.api().get<MoverDoc>(`/movers/${encodeURIComponent(m.id)}`);
        }
        if (doc.state !== 'drained') throw new CliError(`mover ${name}: still ${String(doc.state)} after ${seconds} s (holds ${owned(doc.filesystems)})`, ExitCode.Failed);
      }
      if (ctx.json) return ctx.printJson(doc);
      ctx.out(`mover ${name}: ${String(doc.state)}${doc.state === 'drained' ? '' : ` (holds ${owned(doc.filesystems)}; the controller is moving them)`}`);
    });
}
