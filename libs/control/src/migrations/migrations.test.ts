/**
 * Goal: the hand-written migrations build the schema the entities describe, on an empty database.
 * Method: a fresh database on the real PostgreSQL, run the migrations, then ask TypeORM's schema
 * builder what it would change (nothing, if entities and SQL agree) and exercise the constraints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { createDataSource, runMigrations } from '../data-source';
import { FilesystemEntity, nextFsid, PoolEntity } from '../entities';
import { createTestDatabase, type TestDatabase } from '../testing/test-database';

describe('control-plane migrations', () => {
  let db: TestDatabase;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = createDataSource({ url: db.url });
    await ds.initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('apply on an empty database, once', async () => {
    expect(await runMigrations(ds)).toEqual(['InitialSchema1767225600000', 'FsLeases1767312000000', 'FsUsage1767398400000']);
    expect(await runMigrations(ds)).toEqual([]);
    const tables = await ds.query<{ tablename: string }[]>(
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
    );
    expect(tables.map((t) => t.tablename)).toEqual([
      'api_tokens',
      'audit_log',
      'devices',
      'exports',
      'filesystems',
      'fs_leases',
      'fs_usage',
      'jobs',
      'migrations',
      'movers',
      'pools',
    ]);
  });

  it('leave nothing for the schema builder to change (entities match the SQL)', async () => {
    const sql = await ds.driver.createSchemaBuilder().log();
    expect(sql.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('number filesystems from 2 and enforce the constraints', async () => {
    const pool = await ds.getRepository(PoolEntity).save({ name: 'pool0', sliceBytes: 256 * 2 ** 20 });
    const repo = ds.getRepository(FilesystemEntity);
    const a = await repo.save(repo.create({ name: 'a', fsid: await nextFsid(ds), poolId: pool.id, sizeBytes: 2 ** 40 }));
    const reread = await repo.findOneByOrFail({ id: a.id });
    expect(reread.fsid).toBe(2);
    expect(reread.sizeBytes).toBe(2 ** 40);
    expect(reread.state).toBe('creating');
    await expect(repo.save(repo.create({ name: 'a', fsid: 1, poolId: pool.id, sizeBytes: 1 }))).rejects.toThrow(/filesystems_name_key/);
    await expect(repo.save(repo.create({ name: 'b', fsid: 1, poolId: pool.id, sizeBytes: 0 }))).rejects.toThrow(/size_bytes_check/);
    await expect(repo.query(`UPDATE filesystems SET state = 'weird'`)).rejects.toThrow(/state_check/);
  });
});
