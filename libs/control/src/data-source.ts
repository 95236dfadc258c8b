import { DataSource } from 'typeorm';
import { CONTROL_ENTITIES } from './entities';
import { CONTROL_MIGRATIONS } from './migrations';

export interface DataSourceOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Log every SQL statement (debugging only). */
  logging?: boolean;
  /** Connection pool size (default 10). */
  poolSize?: number;
  /** Name of the table holding applied migrations (default `migrations`). */
  migrationsTableName?: string;
}

/**
 * A DataSource over the control-plane schema. It is not initialised here (call `initialize()`):
 * the OpenAPI generator builds the API module without a database. The schema comes only from the
 * hand-written migrations; `synchronize` stays off so no start can alter tables behind them.
 */
export function createDataSource(options: DataSourceOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities: CONTROL_ENTITIES,
    migrations: CONTROL_MIGRATIONS,
    migrationsTableName: options.migrationsTableName ?? 'migrations',
    migrationsRun: false,
    synchronize: false,
    logging: options.logging ?? false,
    // gen_random_uuid() is built into PostgreSQL 13+: no extension to install.
    uuidExtension: 'pgcrypto',
    installExtensions: false,
    poolSize: options.poolSize ?? 10,
    applicationName: 'ferry-control',
  });
}

/**
 * Applies pending migrations, each in its own transaction, and returns their names. Two
 * processes starting at once are serialised by an advisory lock, so a migration never runs twice.
 */
export async function runMigrations(ds: DataSource): Promise<string[]> {
  if (!ds.isInitialized) await ds.initialize();
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const applied = await ds.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

/** Advisory lock key of migrations ("ferrymig" as an int64). */
const MIGRATION_LOCK_KEY = '7378139211826276711';
