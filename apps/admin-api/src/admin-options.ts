import type { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { EventBus, StorageHost } from '@ferry/control';

/** The part of the job queue (libs/control/src/jobs) the API uses; `JobQueue` satisfies it. */
export interface AdminJobQueue {
  /** Records a queued job (its row in `jobs`) and answers its id; a known idempotency key answers the existing job. */
  enqueue(type: string, params: unknown, opts?: { idempotencyKey?: string; createdBy?: string }): Promise<string>;
  /** Requests the job's end (a finished job is left as it is). */
  cancel(jobId: string): Promise<void>;
}

/** The pino-compatible logger the module writes to. */
export interface AdminLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * Options of `AdminModule.forRoot`. Either `dataSource` (initialised and migrated by the
 * caller, who also destroys it) or `url` (the module connects, runs the migrations and
 * disconnects at shutdown).
 */
export interface AdminModuleOptions {
  dataSource?: DataSource;
  url?: string;
  /** The pool-holding process's host; without it pools report no capacity and device/grow/delete answer 503. */
  storageHost?: StorageHost;
  jobs: AdminJobQueue;
  events: EventBus;
  /** Where the first admin token is written (`admin-token`, mode 0600); without it the token is only logged. */
  dataDir?: string;
  logger: AdminLogger;
  /** Reported by GET /status; default the package version. */
  version?: string;
  /** Redis health for /status and /api/v1/health when Redis is used. */
  redis?: { ping(): Promise<unknown> };
  /** Create the first admin token when none exists (default true). */
  bootstrapAdminToken?: boolean;
  /**
   * The secret of that first token, supplied by the deployment (FERRY_ADMIN_TOKEN_FILE: a
   * Kubernetes or compose secret) instead of generated; it is then neither logged nor written.
   */
  firstAdminToken?: string;
  /** Insert the pool of `storageHost` (as `pool0`) and its devices when the pools table is empty (default true). */
  registerPool?: boolean;
  /** Where the API's metrics go (the process's /metrics); default a registry of the module's own. */
  metricsRegistry?: Registry;
}

export const ADMIN_OPTIONS = Symbol('ADMIN_OPTIONS');
export const ADMIN_DATA_SOURCE = Symbol('ADMIN_DATA_SOURCE');
