/**
 * Validated configuration of the load director (docs/director.md), from the environment.
 *
 * Routes come from exactly one source: the control plane's PostgreSQL (DATABASE_URL, with
 * REDIS_URL for change events) or a static table (FERRY_DIRECTOR_ROUTES, for tests and simple
 * setups). The table's syntax is checked by the director itself, which owns the format.
 */
import { ConfigError, loadControlConfig, parseSize } from './config';

export interface DirectorConfig {
  /** Client-facing port for NFS v3 and MOUNT (one port, as on the movers). */
  nfsPort: number;
  /** Portmapper port (TCP and UDP); 0 = off. */
  portmapPort: number;
  httpPort: number;
  bindAddress: string;
  logLevel: string;
  /** How long a call without a reachable owner is held and replayed before NFS3ERR_JUKEBOX. */
  holdMs: number;
  /** Call bytes held per client connection before its socket stops being read. */
  maxClientBytes: number;
  /** Largest RPC record accepted from a client or a mover. */
  maxRecordBytes: number;
  /** Static route table (FERRY_DIRECTOR_ROUTES); unset when routes come from the database. */
  staticRoutes?: string;
  databaseUrl?: string;
  redisUrl?: string;
  /** Poll period of the database route source. */
  routeRefreshMs: number;
  /** Microseconds the relay keeps polling after relaying instead of sleeping; 0 = off. */
  busyPollUs: number;
}

type Env = Record<string, string | undefined>;

function port(env: Env, name: string, dflt: number, allowZero: boolean): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name}=${raw}: not a port number`);
  const v = Number(raw);
  if (v > 65535 || (v === 0 && !allowZero)) throw new ConfigError(`${name}=${raw}: out of range`);
  return v;
}

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new ConfigError(`${name}=${raw}: an integer from ${min} to ${max} is expected`);
  return Number(raw);
}

function sizeIn(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = parseSize(name, raw);
  if (v < min || v > max) throw new ConfigError(`${name}=${raw}: from ${min} to ${max} bytes`);
  return v;
}

/** A 1 MiB WRITE plus headers, as on the movers (libs/oncrpc DEFAULT_MAX_RECORD_BYTES). */
const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024 + 64 * 1024;

export function loadDirectorConfig(env: Env = process.env): DirectorConfig {
  const level = env.FERRY_LOG_LEVEL ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) {
    throw new ConfigError(`FERRY_LOG_LEVEL=${level}: expected fatal|error|warn|info|debug|trace|silent`);
  }
  const control = loadControlConfig(env);
  const staticRoutes = env.FERRY_DIRECTOR_ROUTES?.trim() || undefined;
  if (staticRoutes !== undefined && control.databaseUrl !== undefined) {
    throw new ConfigError('FERRY_DIRECTOR_ROUTES and DATABASE_URL are both set: routes come from one source (unset one)');
  }
  if (staticRoutes === undefined && control.databaseUrl === undefined) {
    throw new ConfigError('no route source: set DATABASE_URL (and REDIS_URL) for a cluster, or FERRY_DIRECTOR_ROUTES for a static table');
  }
  const maxRecordBytes = sizeIn(env, 'FERRY_MAX_RECORD_SIZE', DEFAULT_MAX_RECORD_BYTES, 64 * 1024, 64 * 1024 * 1024);
  const maxClientBytes = sizeIn(env, 'FERRY_DIRECTOR_CLIENT_BUFFER', 16 * 1024 * 1024, 64 * 1024, 1024 ** 3);
  if (maxClientBytes < maxRecordBytes) {
    throw new ConfigError(`FERRY_DIRECTOR_CLIENT_BUFFER (${maxClientBytes}) must hold at least one record of FERRY_MAX_RECORD_SIZE (${maxRecordBytes})`);
  }
  return {
    nfsPort: port(env, 'FERRY_NFS_PORT', 2049, false),
    portmapPort: port(env, 'FERRY_PORTMAP_PORT', 111, true),
    httpPort: port(env, 'FERRY_HTTP_PORT', 8049, false),
    bindAddress: env.FERRY_BIND_ADDRESS || '::',
    logLevel: level,
    holdMs: int(env, 'FERRY_HOLD_MS', 15_000, 0, 3_600_000),
    maxClientBytes,
    maxRecordBytes,
    staticRoutes,
    databaseUrl: control.databaseUrl,
    redisUrl: control.redisUrl,
    routeRefreshMs: int(env, 'FERRY_ROUTE_REFRESH_MS', 1000, 50, 600_000),
    busyPollUs: int(env, 'FERRY_BUSY_POLL_US', 0, 0, 10_000),
  };
}
