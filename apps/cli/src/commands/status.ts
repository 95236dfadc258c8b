/** `ferry status`: what `GET /status` reports (version, database, Redis, movers, filesystems, running jobs). */
import { Command } from 'commander';
import { Context } from '../context';
import { document } from '../render';

export function registerStatus(program: Command, ctx: Context): void {
  program
    .command('status')
    .description('overall state: version, database, Redis, movers, filesystems, running jobs')
    .action(async () => {
      const status = await ctx.api().get<unknown>('/status');
      if (ctx.json) return ctx.printJson(status);
      ctx.out(`API ${ctx.api().conn.baseUrl}`);
      for (const l of document(status)) ctx.out(l);
    });
}
