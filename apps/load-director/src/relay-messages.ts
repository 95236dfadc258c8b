/**
 * The messages between the director's Nest thread and its relay worker (relay-worker.ts), and
 * the conversions of what crosses: route tables and errors.
 *
 * Why a worker: every socket read of a large record is a new buffer outside the JavaScript
 * heap, and in the Nest process (a heap of about 28 MB) that pressure started a full
 * mark-compact every 20 MiB or so relayed; a plain Node process with the same relay had none
 * (docs/director.md, "Cost"). The worker has a heap of its own that holds only the relay.
 *
 * Invariants: a message is a plain structured-clone value; a route table crosses whole (the
 * worker swaps in a new table, as a RouteSource does); errors cross as their fields and are
 * made Errors again on the other side, so pino logs the same `err` fields as before.
 */
import type { RelayStats } from './relay';
import { buildRouteTable, type RouteTable } from './routes';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A route table as it crosses threads (structured clone keeps bigint). */
export interface RouteTableMessage {
  owners: Array<[bigint, { host: string; port: number }]>;
  exports: Array<[string, bigint]>;
  movers: Array<{ host: string; port: number }>;
}

export interface RelayWorkerData {
  holdMs: number;
  maxClientBytes: number;
  maxRecordBytes: number;
  busyPollUs: number;
  port: number;
  host: string;
  routes: RouteTableMessage;
  /** The levels the main thread's logger writes, so the worker does not send what it drops. */
  levels: Record<LogLevel, boolean>;
}

/** Main thread → worker. */
export type ToWorker =
  | { type: 'routes'; routes: RouteTableMessage }
  | { type: 'refreshed'; id: number; error?: SerializedError }
  | { type: 'stats'; id: number }
  | { type: 'close' };

/** Worker → main thread. */
export type FromWorker =
  | { type: 'listening'; port: number }
  | { type: 'listen-failed'; error: SerializedError }
  | { type: 'log'; level: LogLevel; obj: Record<string, unknown>; msg: string }
  | { type: 'refresh'; id: number; reason: string }
  | { type: 'stats'; id: number; stats: RelayStats; clients: number }
  | { type: 'closed' };

export function routeTableMessage(t: RouteTable): RouteTableMessage {
  return {
    owners: [...t.owners].map(([fsid, m]) => [fsid, { host: m.host, port: m.port }]),
    exports: [...t.exports],
    movers: t.movers.map((m) => ({ host: m.host, port: m.port })),
  };
}

export function routeTableOf(m: RouteTableMessage): RouteTable {
  return buildRouteTable(m.owners, m.exports, m.movers);
}

export interface SerializedError {
  __error: true;
  name: string;
  message: string;
  stack?: string;
  /** Own enumerable fields (code, errno, syscall, address, port, ...). */
  fields: Record<string, unknown>;
}

export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) return { __error: true, name: 'Error', message: String(err), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(err)) if (v === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof v)) fields[k] = v;
  return { __error: true, name: err.name, message: err.message, stack: err.stack, fields };
}

export function reviveError(s: SerializedError): Error {
  const err = new Error(s.message);
  if (s.name !== 'Error') err.name = s.name;
  err.stack = s.stack;
  Object.assign(err, s.fields);
  return err;
}

function isSerializedError(v: unknown): v is SerializedError {
  return typeof v === 'object' && v !== null && (v as { __error?: unknown }).__error === true;
}

/** A log object made cloneable: Error values become SerializedError (the rest are plain). */
export function cloneableLogObject(obj: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = v instanceof Error ? serializeError(v) : v;
  return out;
}

export function revivedLogObject(obj: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(obj)) if (isSerializedError(v)) obj[k] = reviveError(v);
  return obj;
}
