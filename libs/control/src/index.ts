export * from './entities';
export { CONTROL_MIGRATIONS } from './migrations';
export { createDataSource, runMigrations, type DataSourceOptions } from './data-source';
export { startEmbeddedPostgres, type EmbeddedPostgres, type EmbeddedPostgresOptions } from './embedded-postgres';
export { generateToken, hashToken, hashesEqual, tokenMatches, tokenPrefix, TOKEN_PATTERN, TOKEN_PREFIX_LENGTH } from './api-tokens';
export {
  clientPatternProblem,
  exportPathProblem,
  filesystemNameProblem,
  isClientPattern,
  isExportPath,
  isFilesystemName,
  EXPORT_PATH_MAX_BYTES,
  FILESYSTEM_NAME_PATTERN,
} from './validation';
export { EVENT_TOPICS, InProcessEventBus, type EventBus } from './events';
export { FreshLoad } from './fresh-load';
export { RedisEventBus, type RedisEventBusOptions } from './redis-event-bus';
export { redisOptionsFromUrl, redisPrefix, type RedisConnection } from './redis-options';
export {
  ControlError,
  ControlErrorCode,
  conflict,
  invalid,
  notFound,
  refused,
  sqlState,
  PG_FOREIGN_KEY_VIOLATION,
  PG_UNIQUE_VIOLATION,
} from './errors';
export type {
  ExportRecord,
  FsckReport,
  FsUsage,
  PoolDeviceInfo,
  PoolInfo,
  Progress,
  ScrubReport,
  StorageHost,
} from './storage-host';
export { loadExportRecords } from './export-records';
export * from './jobs';
export * from './cluster';
