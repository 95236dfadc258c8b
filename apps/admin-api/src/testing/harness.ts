import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import {
  createDataSource,
  InProcessEventBus,
  JobEntity,
  runMigrations,
  type FsUsage,
  type PoolInfo,
  type StorageHost,
} from '@ferry/control';
import { createTestDatabase, type TestDatabase } from '../../../../libs/control/src/testing/test-database';
import { AdminModule } from '../admin.module';
import type { AdminJobQueue, AdminModuleOptions } from '../admin-options';
import { setupAdminApp } from '../openapi';

/** A StorageHost double: filesystems as sizes in a map, one pool of 256 MiB slices. */
export class FakeStorageHost implements StorageHost {
  readonly calls: string[] = [];
  readonly sizes = new Map<bigint, number>();
  devices = [{ index: 0, path: '/data/pool0.img', sizeBytes: 64 * 2 ** 30, slices: 256, freeSlices: 200 }];
  failNext: Error | undefined;

  private fail(): void {
    const err = this.failNext;
    this.failNext = undefined;
    if (err) throw err;
  }
  async poolInfo(): Promise<PoolInfo> {
    const totalSlices = this.devices.reduce((a, d) => a + d.slices, 0);
    const freeSlices = this.devices.reduce((a, d) => a + d.freeSlices, 0);
    return { poolId: 'fake-pool', sliceBytes: 256 * 2 ** 20, totalSlices, freeSlices, devices: this.devices.map((d) => ({ ...d })) };
  }
  async addDevice(path: string, sizeBytes: number): Promise<void> {
    this.calls.push(`addDevice ${path} ${sizeBytes}`);
    this.fail();
    const slices = Math.floor(sizeBytes / (256 * 2 ** 20));
    this.devices.push({ index: this.devices.length, path, sizeBytes, slices, freeSlices: slices });
  }
  async createFilesystem(fsid: bigint, sizeBytes: number): Promise<void> {
    this.calls.push(`create ${fsid}`);
    this.sizes.set(fsid, sizeBytes);
  }
  async growFilesystem(fsid: bigint, sizeBytes: number): Promise<void> {
    this.calls.push(`grow ${fsid} ${sizeBytes}`);
    this.fail();
    this.sizes.set(fsid, Math.max(this.sizes.get(fsid) ?? 0, sizeBytes));
  }
  async deleteFilesystem(fsid: bigint): Promise<void> {
    this.calls.push(`delete ${fsid}`);
    this.fail();
    this.sizes.delete(fsid);
  }
  async usage(fsid: bigint): Promise<FsUsage | undefined> {
    const size = this.sizes.get(fsid);
    return size === undefined ? undefined : { sizeBytes: size, usedBytes: 4096, freeBytes: size - 4096, files: 1, freeFiles: 1000 };
  }
  scrub(): Promise<never> {
    throw new Error('not in this double');
  }
  fsck(): Promise<never> {
    throw new Error('not in this double');
  }
  setExports(): void {}
  servedFilesystems(): bigint[] {
    return [...this.sizes.keys()];
  }
}

/** A job queue double over the real jobs table: enqueue inserts the row (idempotency by key), cancel marks it. */
export class FakeJobQueue implements AdminJobQueue {
  readonly enqueued: Array<{ type: string; params: unknown; opts?: { idempotencyKey?: string; createdBy?: string } }> = [];
  readonly cancelled: string[] = [];
  failNext: Error | undefined;
  constructor(private readonly ds: DataSource) {}

  async enqueue(type: string, params: unknown, opts?: { idempotencyKey?: string; createdBy?: string }): Promise<string> {
    const err = this.failNext;
    this.failNext = undefined;
    if (err) throw err;
    this.enqueued.push({ type, params, opts });
    const repo = this.ds.getRepository(JobEntity);
    if (opts?.idempotencyKey) {
      const existing = await repo.findOneBy({ idempotencyKey: opts.idempotencyKey });
      if (existing) return existing.id;
    }
    const row = await repo.save(
      repo.create({ type, params: params as Record<string, unknown>, idempotencyKey: opts?.idempotencyKey ?? null, createdBy: opts?.createdBy ?? null }),
    );
    return row.id;
  }

  async cancel(jobId: string): Promise<void> {
    this.cancelled.push(jobId);
    await this.ds.query(`UPDATE jobs SET cancel_requested = true, state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END WHERE id = $1`, [jobId]);
  }
}

export interface Harness {
  app: INestApplication;
  server: import('node:http').Server;
  ds: DataSource;
  db: TestDatabase;
  dataDir: string;
  host: FakeStorageHost;
  jobs: FakeJobQueue;
  events: Array<{ topic: string; payload: unknown }>;
  adminToken: string;
  logs: Array<{ obj: object; msg?: string }>;
  close(): Promise<void>;
}

export async function startHarness(extra: Partial<AdminModuleOptions> = {}): Promise<Harness> {
  const db = await createTestDatabase('ferry_admin');
  const ds = createDataSource({ url: db.url });
  await ds.initialize();
  await runMigrations(ds);
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-admin-'));
  const host = new FakeStorageHost();
  const jobs = new FakeJobQueue(ds);
  const bus = new InProcessEventBus();
  const events: Harness['events'] = [];
  const originalPublish = bus.publish.bind(bus);
  bus.publish = async (topic, payload) => {
    events.push({ topic, payload });
    await originalPublish(topic, payload);
  };
  const logs: Harness['logs'] = [];
  const log = (obj: object, msg?: string) => logs.push({ obj, msg });
  const options: AdminModuleOptions = {
    dataSource: ds,
    storageHost: host,
    jobs,
    events: bus,
    dataDir,
    logger: { info: log, warn: log, error: log },
    version: '0.0.0-test',
    ...extra,
  };

  @Module({ imports: [AdminModule.forRoot(options)] })
  class TestRootModule {}

  let app: INestApplication | undefined;
  let adminToken: string;
  try {
    app = await NestFactory.create(TestRootModule, { bodyParser: false, logger: ['error'], abortOnError: false });
    setupAdminApp(app, options.version ?? '0.0.0-test');
    await app.init();
    adminToken = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
  } catch (err) {
    // A harness that does not start leaves no database or directory behind.
    await app?.close().catch(() => undefined);
    await ds.destroy();
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    app: app!,
    server: app.getHttpServer(),
    ds,
    db,
    dataDir,
    host,
    jobs,
    events,
    adminToken,
    logs,
    async close() {
      await app!.close();
      await ds.destroy();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
