/**
 * Settings of a process in a Ferry cluster (docs/cluster.md): where the control plane and the
 * shared pool are, and this mover's identity. Read once at start; a bad value is a ConfigError
 * naming the variable (exit code 2), never a default silently used instead.
 */
import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { ConfigError, parseSize } from '@ferry/platform';

type Env = Record<string, string | undefined>;

export interface ClusterConfig {
  databaseUrl: string;
  /** Events (and jobs) over Redis; unset = the control plane is polled only. */
  redisUrl?: string;
  /** Devices of the shared pool, identical on every process of the cluster. */
  poolDevices: string[];
  /** The 32-byte file-handle key shared by every mover (a cluster secret). */
  handleKeyFile: string;
  /** Size of each pool device file created when the pool does not exist yet (admin-api). */
  poolDeviceBytes: number;
  /** Lease duration (database clock); a mover renews every quarter of it. */
  leaseMs: number;
  /** How long the admin-api's scrub or fsck waits for a filesystem's owner (FERRY_MAINTENANCE_WAIT_MS). */
  maintenanceWaitMs: number;
}

export interface ClusterMoverConfig extends ClusterConfig {
  moverName: string;
  /** The address directors dial to reach this mover. */
  advertiseAddress: string;
}

function required(env: Env, name: string): string {
  const v = env[name];
  if (!v) throw new ConfigError(`${name} is required in a cluster`);
  return v;
}

function dbUrl(env: Env, name: string, protocols: string[], need: boolean): string | undefined {
  const raw = need ? required(env, name) : env[name];
  if (!raw) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name}: not a URL`);
  }
  if (!protocols.includes(u.protocol)) throw new ConfigError(`${name}: expected ${protocols.join(' or ')} URL, got ${u.protocol}`);
  return raw;
}

export function loadClusterConfig(env: Env = process.env): ClusterConfig {
  const devices = required(env, 'FERRY_POOL_DEVICES')
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d.length > 0);
  if (devices.length === 0) throw new ConfigError('FERRY_POOL_DEVICES: at least one device path');
  for (const d of devices) if (!isAbsolute(d)) throw new ConfigError(`FERRY_POOL_DEVICES: ${d} is not an absolute path`);
  const keyFile = required(env, 'FERRY_HANDLE_KEY_FILE');
  if (!isAbsolute(keyFile)) throw new ConfigError(`FERRY_HANDLE_KEY_FILE: ${keyFile} is not an absolute path`);
  const leaseRaw = env.FERRY_LEASE_MS ?? '3000';
  const leaseMs = Number(leaseRaw);
  if (!/^\d+$/.test(leaseRaw) || leaseMs < 500 || leaseMs > 600_000) throw new ConfigError(`FERRY_LEASE_MS=${leaseRaw}: milliseconds between 500 and 600000`);
  const waitRaw = env.FERRY_MAINTENANCE_WAIT_MS ?? '30000';
  const maintenanceWaitMs = Number(waitRaw);
  if (!/^\d+$/.test(waitRaw) || maintenanceWaitMs > 600_000) throw new ConfigError(`FERRY_MAINTENANCE_WAIT_MS=${waitRaw}: milliseconds between 0 and 600000`);
  let poolDeviceBytes = 8 * 1024 ** 3;
  if (env.FERRY_POOL_SIZE) {
    try {
      poolDeviceBytes = parseSize('FERRY_POOL_SIZE', env.FERRY_POOL_SIZE);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  return {
    databaseUrl: dbUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:'], true)!,
    redisUrl: dbUrl(env, 'REDIS_URL', ['redis:', 'rediss:'], false),
    poolDevices: devices,
    handleKeyFile: keyFile,
    poolDeviceBytes,
    leaseMs,
    maintenanceWaitMs,
  };
}

export function loadClusterMoverConfig(env: Env = process.env): ClusterMoverConfig {
  const base = loadClusterConfig(env);
  const moverName = required(env, 'FERRY_MOVER_NAME');
  if (!/^[A-Za-z0-9._-]{1,63}$/.test(moverName)) throw new ConfigError(`FERRY_MOVER_NAME=${moverName}: letters, digits, '.', '_' and '-' (at most 63)`);
  const advertiseAddress = env.FERRY_ADVERTISE_ADDRESS || hostname();
  return { ...base, moverName, advertiseAddress };
}
