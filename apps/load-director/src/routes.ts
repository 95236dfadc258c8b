/**
 * Where each filesystem is served: the route table the director relays by, and its sources.
 *
 * Invariants: a RouteTable is immutable once published (a source swaps in a whole new table,
 * so one routing decision sees one consistent table); every owner in `owners` is also in
 * `movers`, which lists each mover address once (the targets of calls any mover may answer);
 * export paths are normalized like the movers' (trailing slashes stripped).
 */
import { isIP } from 'node:net';
import { normalizeExportPath } from '@ferry/nfs';

/** A data mover's NFS endpoint. `key` ("host:port", IPv6 bracketed) names it in maps and logs. */
export interface MoverAddress {
  readonly host: string;
  readonly port: number;
  readonly key: string;
}

export interface RouteTable {
  /** fsid → the mover serving it now. */
  readonly owners: ReadonlyMap<bigint, MoverAddress>;
  /** Export path → fsid, for MOUNT MNT/UMNT. */
  readonly exports: ReadonlyMap<string, bigint>;
  /** Every mover known, for calls any mover may answer (NULL aside: EXPORT, DUMP, bad handles). */
  readonly movers: readonly MoverAddress[];
}

export const EMPTY_ROUTES: RouteTable = { owners: new Map(), exports: new Map(), movers: [] };

/**
 * A source of route tables. `current()` is called on every routed call, so it must be a field
 * read; `refresh()` asks for a fresh table now (a call found no owner, a mover answered
 * NFS3ERR_JUKEBOX, an upstream broke) and resolves once one was loaded (concurrent requests
 * share one load).
 */
export interface RouteSource {
  current(): RouteTable;
  refresh(reason: string): Promise<void>;
  /** Called after each load that changed the table. */
  onChange(listener: () => void): void;
  start(): Promise<void>;
  close(): Promise<void>;
  /** Loads done since start (for metrics). */
  readonly refreshCount: number;
}

export function moverAddress(host: string, port: number): MoverAddress {
  return { host, port, key: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}

/** Builds a table, deduplicating movers by key so owners share one MoverAddress object. */
// No local is named `exports`: in the CommonJS build it would shadow the module's own exports.
export function buildRouteTable(owners: Iterable<[bigint, { host: string; port: number }]>, exportPaths: Iterable<[string, bigint]>, extraMovers: Iterable<{ host: string; port: number }> = []): RouteTable {
  const byKey = new Map<string, MoverAddress>();
  const intern = (m: { host: string; port: number }): MoverAddress => {
    const a = moverAddress(m.host, m.port);
    const known = byKey.get(a.key);
    if (known) return known;
    byKey.set(a.key, a);
    return a;
  };
  const ownerMap = new Map<bigint, MoverAddress>();
  for (const [fsid, m] of owners) ownerMap.set(fsid, intern(m));
  for (const m of extraMovers) intern(m);
  const exportMap = new Map<string, bigint>();
  for (const [path, fsid] of exportPaths) exportMap.set(normalizeExportPath(path), fsid);
  return { owners: ownerMap, exports: exportMap, movers: [...byKey.values()] };
}

export function sameRoutes(a: RouteTable, b: RouteTable): boolean {
  if (a.owners.size !== b.owners.size || a.exports.size !== b.exports.size || a.movers.length !== b.movers.length) return false;
  for (const [fsid, m] of a.owners) if (b.owners.get(fsid)?.key !== m.key) return false;
  for (const [path, fsid] of a.exports) if (b.exports.get(path) !== fsid) return false;
  const keys = new Set(b.movers.map((m) => m.key));
  return a.movers.every((m) => keys.has(m.key));
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * FERRY_DIRECTOR_ROUTES: comma-separated entries (whitespace around them ignored)
 *   <fsid>=<host>:<port>     the mover serving filesystem <fsid> (decimal, 64-bit);
 *                            an IPv6 host is bracketed: 7=[fd00::5]:2049
 *   export:<path>=<fsid>     MOUNT path <path> (absolute) names filesystem <fsid>
 *   mover:<host>:<port>      a mover that owns nothing listed (still answers EXPORT, NULL)
 * Example: `1=10.0.0.5:2049,2=10.0.0.6:2049,export:/export=1,export:/home=2`.
 * Throws an Error naming the bad entry.
 */
export function parseStaticRoutes(text: string): RouteTable {
  const owners: Array<[bigint, { host: string; port: number }]> = [];
  const exportPaths: Array<[string, bigint]> = [];
  const extra: Array<{ host: string; port: number }> = [];
  const seenFsids = new Set<bigint>();
  const seenPaths = new Set<string>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') throw new Error(`FERRY_DIRECTOR_ROUTES: an empty entry (stray comma?) in ${JSON.stringify(text)}`);
    const bad = (why: string): Error => new Error(`FERRY_DIRECTOR_ROUTES: ${JSON.stringify(entry)}: ${why}`);
    if (entry.startsWith('export:')) {
      const eq = entry.lastIndexOf('=');
      if (eq < 0) throw bad('expected export:<path>=<fsid>');
      const path = entry.slice('export:'.length, eq);
      if (!path.startsWith('/')) throw bad('the export path must be absolute');
      const fsid = parseFsid(entry.slice(eq + 1), bad);
      const norm = normalizeExportPath(path);
      if (seenPaths.has(norm)) throw bad('this export path is listed twice');
      seenPaths.add(norm);
      exportPaths.push([norm, fsid]);
      continue;
    }
    if (entry.startsWith('mover:')) {
      extra.push(parseHostPort(entry.slice('mover:'.length), bad));
      continue;
    }
    const eq = entry.indexOf('=');
    if (eq < 0) throw bad('expected <fsid>=<host>:<port>, export:<path>=<fsid> or mover:<host>:<port>');
    const fsid = parseFsid(entry.slice(0, eq), bad);
    if (seenFsids.has(fsid)) throw bad('this fsid is listed twice');
    seenFsids.add(fsid);
    owners.push([fsid, parseHostPort(entry.slice(eq + 1), bad)]);
  }
  return buildRouteTable(owners, exportPaths, extra);
}

function parseFsid(text: string, bad: (why: string) => Error): bigint {
  if (!/^\d{1,20}$/.test(text)) throw bad(`${JSON.stringify(text)} is not a decimal fsid`);
  const v = BigInt(text);
  if (v > U64_MAX) throw bad('the fsid does not fit 64 bits');
  return v;
}

function parseHostPort(text: string, bad: (why: string) => Error): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (!m) throw bad(`${JSON.stringify(text)} is not host:port ([v6addr]:port for IPv6)`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw bad(`port ${m[2]} out of range`);
  const host = m[1]!;
  if (text.startsWith('[') && isIP(host) !== 6) throw bad(`${host} is not an IPv6 address`);
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw bad(`${JSON.stringify(host)} is not a host name or address`);
  return { host, port };
}

/** A fixed table from FERRY_DIRECTOR_ROUTES: refresh() has nothing to reload. */
export class StaticRouteSource implements RouteSource {
  private readonly table: RouteTable;
  refreshCount = 0;

  constructor(text: string) {
    this.table = parseStaticRoutes(text);
  }

  current(): RouteTable {
    return this.table;
  }

  refresh(): Promise<void> {
    this.refreshCount++;
    return Promise.resolve();
  }

  onChange(): void {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
