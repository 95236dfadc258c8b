#!/usr/bin/env node
/**
 * Entry of the `ferry` binary: runs the command line of this process and exits with its code
 * (see cli.ts; the exit codes are listed in exit-code.ts and in `ferry --help`).
 */
import { main } from './cli';
import { processIo } from './io';

// A reader that stops early (`ferry fs list | head`) is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2), processIo()).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ferry: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
