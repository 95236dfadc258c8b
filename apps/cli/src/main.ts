#!/usr/bin/env node
/**
 * Entry of the `ferry` binary: runs the command line of this process and exits with its code
 * (see cli.ts; the exit codes are listed in exit-code.ts and in `ferry --help`).
 */
import { main } from './cli';
import { processIo } from './io';

main(process.argv.slice(2), processIo()).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ferry: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
