/**
 * Validated process configuration from the environment.
 *
 * Every setting has a default that gives the embedded start (one data mover serving a local
 * export); a malformed value stops the process at start with a message naming the variable,
 * rather than running with a guess.
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';

export interface MoverConfig {
  dataDir: string;
  nfsPort: number;
  /** 0 = do not serve or register a portmapper. */
  portmapPort: number;
  httpPort: number;
  bindAddress: string;
  logLevel: string;
  /** Size of the pool device file created at first start; 0 = derive from free disk space. */
  poolBytes: number;
  /** Size limit of the default filesystem; 0 = the whole pool. */
  fsBytes: number;
  /** Budget for buffered UNSTABLE writes. */
  writeBufferBytes: number;
  /** Large read buffers kept for reuse, per served filesystem; 0 = none. */
  readBufferBytes: number;
  /** Microseconds the RPC loop keeps polling after a call instead of sleeping; 0 = off. */
  busyPollUs: number;
  /** Average device read rate of an online scrub, bytes per second; 0 = unlimited. */
  scrubBytesPerSecond: number;
  /** Networks (CIDRs) of load directors, trusted to name the client in a PROXY v2 header. */
  directorNetworks: string[];
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
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

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Sizes accept plain bytes or a binary suffix: 512M, 20G, 1T. */
export function parseSize(name: string, raw: string): number {
  const m = /^(\d+)\s*([kmgt]?)i?b?$/i.exec(raw.trim());
  if (!m) throw new ConfigError(`${name}=${raw}: not a size (examples: 1073741824, 512M, 20G)`);
  const v = Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
  if (!Number.isSafeInteger(v)) throw new ConfigError(`${name}=${raw}: too large`);
  return v;
}

function size(env: Env, name: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  return parseSize(name, raw);
}

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new ConfigError(`${name}=${raw}: an integer from ${min} to ${max} is expected`);
  return Number(raw);
}

/** Per second, like FERRY_SCRUB_RATE: `256M` and `256M/s` are the same rate. */
function rate(env: Env, name: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  return parseSize(name, raw.replace(/\s*\/\s*s(ec)?\s*$/i, ''));
}

/** A scrub's default pace: about an eighth of what it reads from a warm page cache (~1.9 GB/s),
 * well under a disk's sequential rate, so client I/O keeps most of the device. */
export const DEFAULT_SCRUB_BYTES_PER_SECOND = 256 * 1024 * 1024;

/** See docs/benchmarks.md: what polling buys at one call in flight, and what it costs. */
export const DEFAULT_BUSY_POLL_US = 0;

/**
 * A comma-separated list of CIDRs or addresses (IPv4 and IPv6), checked here so a typo stops
 * the start instead of silently trusting nobody (or the wrong network).
 */
export function networkList(env: Env, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((part) => {
    const p = part.trim();
    const slash = p.indexOf('/');
    const fam = isIP(slash < 0 ? p : p.slice(0, slash));
    if (fam === 0) throw new ConfigError(`${name}: ${JSON.stringify(p)} is not an IP address or CIDR (example: 10.0.0.0/8,fd00::/8)`);
    if (slash >= 0) {
      const prefix = p.slice(slash + 1);
      if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (fam === 4 ? 32 : 128)) throw new ConfigError(`${name}: ${JSON.stringify(p)} has a bad prefix length`);
    }
    return p;
  });
}

export function loadMoverConfig(env: Env = process.env, cwd = process.cwd()): MoverConfig {
  const level = env.FERRY_LOG_LEVEL ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) {
    throw new ConfigError(`FERRY_LOG_LEVEL=${level}: expected fatal|error|warn|info|debug|trace|silent`);
  }
  return {
    dataDir: resolve(cwd, env.FERRY_DATA_DIR || './data'),
    nfsPort: port(env, 'FERRY_NFS_PORT', 2049, false),
    portmapPort: port(env, 'FERRY_PORTMAP_PORT', 111, true),
    httpPort: port(env, 'FERRY_HTTP_PORT', 8049, false),
    bindAddress: env.FERRY_BIND_ADDRESS || '::',
    logLevel: level,
    poolBytes: size(env, 'FERRY_POOL_SIZE', 0),
    fsBytes: size(env, 'FERRY_FS_SIZE', 0),
    writeBufferBytes: size(env, 'FERRY_WRITE_BUFFER', 256 * 1024 * 1024),
    readBufferBytes: size(env, 'FERRY_READ_BUFFERS', 32 * 1024 * 1024),
    busyPollUs: int(env, 'FERRY_BUSY_POLL_US', DEFAULT_BUSY_POLL_US, 0, 10_000),
    scrubBytesPerSecond: rate(env, 'FERRY_SCRUB_RATE', DEFAULT_SCRUB_BYTES_PER_SECOND),
    directorNetworks: networkList(env, 'FERRY_DIRECTOR_NETWORKS'),
  };
}

export interface ControlConfig {
  /** PostgreSQL of the control plane; unset = an embedded PostgreSQL in the data directory. */
  databaseUrl?: string;
  /** Redis for BullMQ jobs and events; unset = in-process queue and events. */
  redisUrl?: string;
  /** This mover's name in the control plane; unset = the host name. */
  moverName?: string;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name}: not a URL (example: ${protocols[0]}//host:port/...)`);
  }
  if (!protocols.includes(u.protocol)) throw new ConfigError(`${name}: expected a ${protocols.join(' or ')} URL, got ${u.protocol}`);
  return raw;
}

export function loadControlConfig(env: Env = process.env): ControlConfig {
  const moverName = env.FERRY_MOVER_NAME || undefined;
  if (moverName !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(moverName)) {
    throw new ConfigError(`FERRY_MOVER_NAME=${moverName}: letters, digits, '.', '_' and '-' (at most 63)`);
  }
  return {
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    moverName,
  };
}
