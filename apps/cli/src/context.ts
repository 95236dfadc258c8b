/**
 * What every command shares: the I/O, the global flags, the API client (built on first use so
 * offline commands and `--help` never need a URL or token), and the exit code of the run.
 */
import { Command, InvalidArgumentError } from 'commander';
// The config module alone, not the @ferry/platform index: the index also loads pino and
// prom-client, which cost every `ferry` run ~40 ms of start-up for nothing the CLI uses.
import { parseSize } from '../../../libs/platform/src/config';
import { ApiClient, resolveConnection } from './api-client';
import type { CliIo } from './io';

export interface GlobalFlags {
  url?: string;
  token?: string;
  timeout?: number;
  json?: boolean;
}

export const MAX_PAGE = 500;

export class Context {
  code = 0;
  private client: ApiClient | undefined;

  constructor(
    readonly io: CliIo,
    private readonly program: Command,
  ) {}

  get flags(): GlobalFlags {
    return this.program.opts<GlobalFlags>();
  }

  get json(): boolean {
    return this.flags.json === true;
  }

  get pageSize(): number {
    return Math.min(MAX_PAGE, Math.max(1, this.io.pageSize ?? MAX_PAGE));
  }

  api(): ApiClient {
    this.client ??= new ApiClient(resolveConnection(this.flags, this.io));
    return this.client;
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** The API's JSON as one document on stdout. */
  printJson(doc: unknown): void {
    this.out(JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
  }
}

/** Commander argument parsers: a bad value is a usage error (exit 2) with the flag named. */
export function sizeArg(raw: string): number {
  try {
    const v = parseSize('size', raw);
    if (v <= 0) throw new Error('must be above zero');
    return v;
  } catch (err) {
    throw new InvalidArgumentError(`${raw}: not a size (examples: 512M, 10G, 1T, 1073741824)${err instanceof Error && /too large|above zero/.test(err.message) ? ` - ${err.message.replace(/^size=\S+: /, '')}` : ''}`);
  }
}

export function intArg(min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) throw new InvalidArgumentError(`${raw}: an integer from ${min} to ${max} is expected`);
    return Number(raw);
  };
}

export function secondsArg(raw: string): number {
  const v = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || !(v > 0)) throw new InvalidArgumentError(`${raw}: a positive number of seconds is expected`);
  return v;
}

export function listArg(raw: string): string[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new InvalidArgumentError(`${JSON.stringify(raw)}: at least one client is expected (example: 10.0.0.0/24,192.168.1.7 or *)`);
  return items;
}
