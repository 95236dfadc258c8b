// Goal: PgRouteSource serves exactly the contract's routes (serving, unexpired leases by the
// database clock; export paths), reloads on routes.changed and exports.changed events well
// before its poll, and
// keeps the last table while loads fail. Method: a fresh database on the real
// PostgreSQL with the control plane's migrations, the real Redis event bus, rows changed by SQL.
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataSource, EVENT_TOPICS, RedisEventBus, runMigrations } from '@ferry/control';
import { createTestDatabase, type TestDatabase } from '../../../libs/control/src/testing/test-database';
import { PgRouteSource, ROUTES_CHANGED_TOPIC } from './pg-route-source';
import type { RelayLogger } from './relay';

const QUIET: RelayLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const REDIS_URL = process.env.FERRY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('PgRouteSource', () => {
  let db: TestDatabase;
  let sql: Client;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    db = await createTestDatabase('ferry_director');
    const ds = createDataSource({ url: db.url });
    await runMigrations(ds);
    await ds.destroy();
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    const one = async (q: string, params: unknown[] = []): Promise<string> => (await sql.query<{ id: string }>(q, params)).rows[0]!.id;
    const pool = await one(`INSERT INTO pools (name, slice_bytes) VALUES ('p', 268435456) RETURNING id`);
    ids.m1 = await one(`INSERT INTO movers (name, address, nfs_port, http_port) VALUES ('m1', '10.0.0.1', 2049, 8049) RETURNING id`);
    ids.m2 = await one(`INSERT INTO movers (name, address, nfs_port, http_port) VALUES ('m2', 'fd00::2', 2050, 8049) RETURNING id`);
    for (const [name, fsid] of [['a', 11], ['b', 12], ['c', 13]] as const) {
      ids[name] = await one(`INSERT INTO filesystems (name, fsid, pool_id, size_bytes) VALUES ($1, $2, $3, 1073741824) RETURNING id`, [name, fsid, pool]);
      await sql.query(`INSERT INTO exports (filesystem_id, path, clients) VALUES ($1, $2, '["*"]')`, [ids[name], `/${name}`]);
    }
    // a: serving on m1; b: serving on m2; c: owned by m1 but not serving yet.
    await sql.query(`INSERT INTO fs_leases (filesystem_id, fsid, owner_mover_id, epoch, expires_at, serving) VALUES ($1, 11, $2, 3, now() + interval '1 hour', true)`, [ids.a, ids.m1]);
    await sql.query(`INSERT INTO fs_leases (filesystem_id, fsid, owner_mover_id, epoch, expires_at, serving) VALUES ($1, 12, $2, 1, now() + interval '1 hour', true)`, [ids.b, ids.m2]);
    await sql.query(`INSERT INTO fs_leases (filesystem_id, fsid, owner_mover_id, epoch, expires_at, serving) VALUES ($1, 13, $2, 1, now() + interval '1 hour', false)`, [ids.c, ids.m1]);
  });

  afterAll(async () => {
    await sql?.end();
    await db?.drop();
  });

  it('loads the serving leases and the export paths', async () => {
    const src = new PgRouteSource({ databaseUrl: db.url, pollMs: 60_000, logger: QUIET });
    await src.start();
    try {
      const t = src.current();
      expect([...t.owners].map(([fsid, m]) => [fsid, m.key])).toEqual(expect.arrayContaining([[11n, '10.0.0.1:2049'], [12n, '[fd00::2]:2050']]));
      expect(t.owners.has(13n)).toBe(false);
      expect(t.exports).toEqual(new Map([['/a', 11n], ['/b', 12n], ['/c', 13n]]));
      expect(t.movers.map((m) => m.key).sort()).toEqual(['10.0.0.1:2049', '[fd00::2]:2050']);
      expect(src.loaded).toBe(true);
    } finally {
      await src.close();
    }
  });

  it('follows lease changes on a routes.changed event, well before its poll', async () => {
    const channelPrefix = `ferry.test.${randomBytes(4).toString('hex')}.`;
    const events = new RedisEventBus({ redisUrl: REDIS_URL, channelPrefix });
    const publisher = new RedisEventBus({ redisUrl: REDIS_URL, channelPrefix });
    const src = new PgRouteSource({ databaseUrl: db.url, pollMs: 60_000, logger: QUIET, events });
    let changes = 0;
    src.onChange(() => changes++);
    await src.start();
    changes = 0; // the first load is a change from the empty table
    try {
      expect(src.current().owners.has(13n)).toBe(false);
      // c starts serving on m2, a's lease expires (database clock).
      await sql.query(`UPDATE fs_leases SET serving = true, owner_mover_id = $1 WHERE fsid = 13`, [ids.m2]);
      await sql.query(`UPDATE fs_leases SET expires_at = now() - interval '1 second' WHERE fsid = 11`);
      const t0 = Date.now();
      await publisher.publish(ROUTES_CHANGED_TOPIC, { fsid: '13' });
      while (!src.current().owners.has(13n)) {
        if (Date.now() - t0 > 5000) throw new Error('no reload after the event');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(src.current().owners.get(13n)?.key).toBe('[fd00::2]:2050');
      expect(src.current().owners.has(11n)).toBe(false);
      expect(changes).toBe(1);
      // An on-demand refresh that finds nothing new reloads but does not notify.
      const before = src.refreshCount;
      await Promise.all([src.refresh('a'), src.refresh('b'), src.refresh('c')]);
      expect(src.refreshCount - before).toBeGreaterThanOrEqual(1);
      expect(src.refreshCount - before).toBeLessThanOrEqual(2); // concurrent asks share loads
      expect(changes).toBe(1);
    } finally {
      await src.close();
      await publisher.close();
    }
  });

  it('learns a new export path on an exports.changed event, well before its poll', async () => {
    const channelPrefix = `ferry.test.${randomBytes(4).toString('hex')}.`;
    const events = new RedisEventBus({ redisUrl: REDIS_URL, channelPrefix });
    const publisher = new RedisEventBus({ redisUrl: REDIS_URL, channelPrefix });
    const src = new PgRouteSource({ databaseUrl: db.url, pollMs: 60_000, logger: QUIET, events });
    await src.start();
    try {
      expect(src.current().exports.has('/a2')).toBe(false);
      await sql.query(`INSERT INTO exports (filesystem_id, path, clients) VALUES ($1, '/a2', '["*"]')`, [ids.a]);
      const t0 = Date.now();
      await publisher.publish(EVENT_TOPICS.exportsChanged, {});
      while (!src.current().exports.has('/a2')) {
        if (Date.now() - t0 > 5000) throw new Error('no reload after the event');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(src.current().exports.get('/a2')).toBe(11n);
    } finally {
      await sql.query(`DELETE FROM exports WHERE path = '/a2'`);
      await src.close();
      await publisher.close();
    }
  });

  it('polls, and keeps the last table while loads fail', async () => {
    const src = new PgRouteSource({ databaseUrl: db.url, pollMs: 100, logger: QUIET });
    await src.start();
    try {
      await sql.query(`UPDATE fs_leases SET expires_at = now() + interval '1 hour' WHERE fsid = 11`);
      const t0 = Date.now();
      while (!src.current().owners.has(11n)) {
        if (Date.now() - t0 > 3000) throw new Error('no reload by polling');
        await new Promise((r) => setTimeout(r, 20));
      }
      // Loads fail (the table is gone for a moment, as in a broken control plane); the routes stay.
      const table = src.current();
      await sql.query(`ALTER TABLE fs_leases RENAME TO fs_leases_away`);
      try {
        await expect(src.refresh('test')).rejects.toThrow(/fs_leases/);
        await new Promise((r) => setTimeout(r, 250)); // failing polls too
        expect(src.current()).toBe(table);
      } finally {
        await sql.query(`ALTER TABLE fs_leases_away RENAME TO fs_leases`);
      }
      await src.refresh('test');
      expect(src.current().owners.has(11n)).toBe(true);
    } finally {
      await src.close();
    }
  });
});
