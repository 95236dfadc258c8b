/**
 * The data directory of an embedded start: pool device, handle key and export table.
 *
 * Layout (docs/operations.md): `pool/dev0.img` (a sparse pool device), `handle.key` (32 random
 * bytes, mode 0600: the MAC key of file handles; losing it makes every client handle stale),
 * `exports.json` (the export table, created with the default export on first start).
 * First start creates all three; later starts only open them, so handles and data survive
 * restarts.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { ExportConfig } from '@ferry/nfs';

export const DEFAULT_FSID = 1n;

export interface ExportFileEntry {
  path: string;
  fsid: string;
  clients: string[];
  access: 'rw' | 'ro';
  rootSquash: boolean;
  allSquash: boolean;
  anonUid: number;
  anonGid: number;
  secure: boolean;
}

/** The default export: the local host only. Root is not squashed because local root already
 * owns the data directory; `secure` is off so unprivileged local tools (libnfs) can mount. */
export const DEFAULT_EXPORT: ExportFileEntry = {
  path: '/export',
  fsid: DEFAULT_FSID.toString(),
  clients: ['127.0.0.1', '::1'],
  access: 'rw',
  rootSquash: false,
  allSquash: false,
  anonUid: 65534,
  anonGid: 65534,
  secure: false,
};

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

export async function ensureDataDir(dataDir: string): Promise<void> {
  await fsp.mkdir(join(dataDir, 'pool'), { recursive: true, mode: 0o700 });
}

/** Reads the handle key, creating it once (written to a temp file and renamed, so never torn). */
export async function loadHandleKey(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, 'handle.key');
  if (!(await exists(path))) {
    const tmp = `${path}.tmp`;
    const fh = await fsp.open(tmp, 'w', 0o600);
    await fh.writeFile(randomBytes(32));
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, path);
  }
  const key = await fsp.readFile(path);
  if (key.length !== 32) throw new Error(`${path}: expected 32 bytes, found ${key.length}`);
  return key;
}

export function parseExports(raw: unknown, source: string): ExportConfig[] {
  if (!Array.isArray(raw)) throw new Error(`${source}: expected a JSON array of exports`);
  return raw.map((e: Partial<ExportFileEntry>, i) => {
    const where = `${source}[${i}]`;
    if (typeof e.path !== 'string' || !e.path.startsWith('/')) throw new Error(`${where}.path: an absolute path is required`);
    if (typeof e.fsid !== 'string' || !/^\d+$/.test(e.fsid)) throw new Error(`${where}.fsid: a decimal filesystem id is required`);
    if (!Array.isArray(e.clients) || e.clients.some((c) => typeof c !== 'string')) throw new Error(`${where}.clients: a list of addresses or CIDRs is required`);
    if (e.access !== 'rw' && e.access !== 'ro') throw new Error(`${where}.access: "rw" or "ro"`);
    const uint = (v: unknown, name: string, d: number): number => {
      if (v === undefined) return d;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`${where}.${name}: a uid/gid number`);
      return v;
    };
    return {
      path: e.path,
      fsid: BigInt(e.fsid),
      clients: e.clients,
      access: e.access,
      rootSquash: e.rootSquash ?? true,
      allSquash: e.allSquash ?? false,
      anonUid: uint(e.anonUid, 'anonUid', 65534),
      anonGid: uint(e.anonGid, 'anonGid', 65534),
      secure: e.secure ?? true,
    };
  });
}

export async function loadExports(dataDir: string): Promise<ExportConfig[]> {
  const path = join(dataDir, 'exports.json');
  if (!(await exists(path))) {
    await fsp.writeFile(path, JSON.stringify([DEFAULT_EXPORT], null, 2) + '\n', { mode: 0o644 });
  }
  const text = await fsp.readFile(path, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
  }
  return parseExports(raw, path);
}

/** Pool size for a first start: 90% of the free space under the data directory, capped at
 * 1 TiB and at least 1 GiB, so FSSTAT never promises space the host does not have. */
export async function defaultPoolBytes(dataDir: string): Promise<number> {
  const st = await fsp.statfs(dataDir);
  const free = Number(st.bavail) * Number(st.bsize);
  const cap = 1024 ** 4;
  const bytes = Math.min(cap, Math.floor(free * 0.9));
  const slice = 256 * 1024 * 1024;
  return Math.max(4 * slice, bytes - (bytes % slice));
}

export const poolDevicePath = (dataDir: string): string => join(dataDir, 'pool', 'dev0.img');

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One writer per data directory: the mover records its pid in `mover.pid`; a second mover, or an
 * offline tool such as fsck, refuses to open the pool while that process lives. A pid file left
 * by a killed process is taken over.
 */
export async function lockDataDir(dataDir: string, pid = process.pid): Promise<void> {
  const path = join(dataDir, 'mover.pid');
  const holder = await dataDirHolder(dataDir);
  if (holder !== undefined && holder !== pid) throw new Error(`${dataDir} is in use by the data mover with pid ${holder}`);
  await fsp.writeFile(path, `${pid}\n`);
}

export async function unlockDataDir(dataDir: string): Promise<void> {
  await fsp.rm(join(dataDir, 'mover.pid'), { force: true });
}

/** The pid of a live mover holding the data directory, if any. */
export async function dataDirHolder(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await fsp.readFile(join(dataDir, 'mover.pid'), 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Written (synced, by rename) once the first start has created and formatted everything. */
export async function markInitialized(dataDir: string): Promise<void> {
  const path = join(dataDir, 'initialized');
  const fh = await fsp.open(`${path}.tmp`, 'w', 0o644);
  await fh.writeFile(`${new Date().toISOString()}\n`);
  await fh.sync();
  await fh.close();
  await fsp.rename(`${path}.tmp`, path);
}

export async function isInitialized(dataDir: string): Promise<boolean> {
  return exists(join(dataDir, 'initialized'));
}
