/**
 * `ferry`: the command line of Ferry. REST commands (status, fs, export, mover, job) talk to the
 * admin API; the offline storage commands (fsck, pool import) open the pool devices directly.
 * `main` runs one command line in-process against the given I/O and returns the exit code; it
 * never calls `process.exit`, so tests drive it like a user would.
 */
import { Command, CommanderError } from 'commander';
import { DEFAULT_TIMEOUT_S, DEFAULT_URL } from './api-client';
import { Context, secondsArg } from './context';
import { CliError, EXIT_CODES_HELP, ExitCode } from './exit-code';
import type { CliIo } from './io';
import { registerExport } from './commands/export';
import { registerFs } from './commands/fs';
import { registerJob } from './commands/job';
import { registerMover } from './commands/mover';
import { registerStatus } from './commands/status';
import { registerStorage } from './commands/storage';

const CONNECTION_HELP = `
Connection:
  the API is --url, else FERRY_URL, else ${DEFAULT_URL}
  the bearer token is --token, else FERRY_TOKEN, else the file $FERRY_DATA_DIR/admin-token
  (FERRY_DATA_DIR defaults to ./data)`;

function buildProgram(io: CliIo): { program: Command; ctx: Context } {
  const program = new Command('ferry');
  const ctx = new Context(io, program);
  program
    .description('Ferry NAS command line')
    .option('--url <url>', 'admin API address (FERRY_URL)')
    .option('--token <token>', 'API bearer token (FERRY_TOKEN)')
    .option('--timeout <seconds>', 'give up on an API request after this long', secondsArg, DEFAULT_TIMEOUT_S)
    .option('--json', 'print the JSON document instead of tables (for scripts)')
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', CONNECTION_HELP + '\n' + EXIT_CODES_HELP);
  registerStatus(program, ctx);
  registerFs(program, ctx);
  registerExport(program, ctx);
  registerMover(program, ctx);
  registerJob(program, ctx);
  registerStorage(program, ctx);
  // Every command's help ends with the exit codes a script can rely on.
  const leaves = (c: Command): Command[] => (c.commands.length === 0 ? [c] : c.commands.flatMap(leaves));
  for (const c of leaves(program)) c.addHelpText('after', EXIT_CODES_HELP);
  return { program, ctx };
}

/** Runs one command line (without `node` and the script path); resolves to the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const { program, ctx } = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    if (err instanceof CliError) {
      io.stderr.write(`ferry: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`ferry: ${err instanceof Error ? err.message : String(err)}\n`);
    return ExitCode.Failed;
  }
}
