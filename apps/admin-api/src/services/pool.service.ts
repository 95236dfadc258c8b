import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import {
  conflict,
  ControlError,
  ControlErrorCode,
  DeviceEntity,
  notFound,
  PG_UNIQUE_VIOLATION,
  PoolEntity,
  sqlState,
  type PoolInfo,
} from '@ferry/control';
import { ADMIN_DATA_SOURCE, ADMIN_OPTIONS, type AdminModuleOptions } from '../admin-options';
import type { AuditScope } from '../common/audit';
import type { AddDeviceDto } from '../dto/misc.dto';
import { isUuid, page, type Page } from './paging';

/** The pool the module's StorageHost holds is registered under this name. */
export const HOST_POOL_NAME = 'pool0';

export interface PoolDoc {
  id: string;
  name: string;
  sliceBytes: number;
  devices: Array<{ id: string; path: string; sizeBytes: number; deviceIndex: number; slices: number | null; freeSlices: number | null }>;
  /** From the engine; null when no storage host holds this pool here. */
  capacity: { totalSlices: number; freeSlices: number; totalBytes: number; freeBytes: number; usedBytes: number } | null;
  createdAt: Date;
}

/**
 * Pools and devices. The database lists them; capacity and use come from the StorageHost,
 * whose pool is the one named `pool0` (registered with its devices at start when missing).
 */
@Injectable()
export class PoolService implements OnApplicationBootstrap {
  constructor(
    @Inject(ADMIN_DATA_SOURCE) private readonly ds: DataSource,
    @Inject(ADMIN_OPTIONS) private readonly options: AdminModuleOptions,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.options.registerPool !== false && this.options.storageHost) await this.registerHostPool();
  }

  /** Inserts `pool0` and any device of the host's pool the table lacks (idempotent). */
  async registerHostPool(): Promise<void> {
    const info = await this.options.storageHost!.poolInfo();
    await this.ds.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock($1)', [POOL_LOCK_KEY]);
      let pool = await m.findOneBy(PoolEntity, { name: HOST_POOL_NAME });
      if (!pool) {
        pool = await m.save(m.create(PoolEntity, { name: HOST_POOL_NAME, sliceBytes: info.sliceBytes }));
        await m.query(`INSERT INTO audit_log (actor, action, target, detail, status) VALUES ('system', 'pool.register', $1, NULL, 201)`, [
          HOST_POOL_NAME,
        ]);
      }
      await this.syncDevices(m, pool.id, info);
    });
  }

  async list(limit: number, offset: number): Promise<Page<PoolDoc>> {
    const [rows, total] = await this.ds.getRepository(PoolEntity).findAndCount({ order: { name: 'ASC' }, take: limit, skip: offset });
    const info = await this.hostInfo();
    return page(await Promise.all(rows.map((r) => this.doc(r, info))), total, limit, offset);
  }

  async get(id: string): Promise<PoolDoc> {
    return this.doc(await this.find(id), await this.hostInfo());
  }

  /** Adds a device to the pool online (the engine first, then the row). */
  async addDevice(poolId: string, dto: AddDeviceDto, scope: AuditScope): Promise<PoolDoc> {
    scope.about(dto.path, { ...dto });
    const pool = await this.find(poolId);
    scope.about(pool.name, { ...dto });
    const host = this.options.storageHost;
    if (!host || pool.name !== HOST_POOL_NAME) {
      throw new ControlError(ControlErrorCode.Unavailable, `no storage host holds pool ${pool.name} here`);
    }
    if (await this.ds.getRepository(DeviceEntity).existsBy({ path: dto.path })) throw conflict(`device ${dto.path} is already in a pool`);
    await host.addDevice(dto.path, dto.sizeBytes);
    const info = await host.poolInfo();
    try {
      await this.ds.transaction(async (m) => {
        await this.syncDevices(m, pool.id, info);
        await scope.record(m, pool.name, { ...dto });
      });
    } catch (err) {
      if (sqlState(err) === PG_UNIQUE_VIOLATION) throw conflict(`device ${dto.path} is already in a pool`);
      throw err;
    }
    return this.doc(pool, info);
  }

  private async syncDevices(m: EntityManager, poolId: string, info: PoolInfo): Promise<void> {
    const known = new Set((await m.findBy(DeviceEntity, { poolId })).map((d) => d.path));
    for (const d of info.devices) {
      if (!known.has(d.path)) await m.insert(DeviceEntity, { poolId, path: d.path, sizeBytes: d.sizeBytes, deviceIndex: d.index });
    }
  }

  private async find(id: string): Promise<PoolEntity> {
    const row = isUuid(id) ? await this.ds.getRepository(PoolEntity).findOneBy({ id }) : null;
    if (!row) throw notFound('pool', id);
    return row;
  }

  private async hostInfo(): Promise<PoolInfo | undefined> {
    try {
      return await this.options.storageHost?.poolInfo();
    } catch (err) {
      this.options.logger.warn({ err }, 'pool info from the storage host failed');
      return undefined;
    }
  }

  private async doc(row: PoolEntity, info: PoolInfo | undefined): Promise<PoolDoc> {
    const devices = await this.ds.getRepository(DeviceEntity).find({ where: { poolId: row.id }, order: { deviceIndex: 'ASC' } });
    const held = row.name === HOST_POOL_NAME ? info : undefined;
    return {
      id: row.id,
      name: row.name,
      sliceBytes: row.sliceBytes,
      devices: devices.map((d) => {
        const live = held?.devices.find((x) => x.path === d.path);
        return {
          id: d.id,
          path: d.path,
          sizeBytes: d.sizeBytes,
          deviceIndex: d.deviceIndex,
          slices: live?.slices ?? null,
          freeSlices: live?.freeSlices ?? null,
        };
      }),
      capacity: held
        ? {
            totalSlices: held.totalSlices,
            freeSlices: held.freeSlices,
            totalBytes: held.totalSlices * held.sliceBytes,
            freeBytes: held.freeSlices * held.sliceBytes,
            usedBytes: (held.totalSlices - held.freeSlices) * held.sliceBytes,
          }
        : null,
      createdAt: row.createdAt,
    };
  }
}

/** Advisory lock key of the pool registration ("ferrypol"). */
const POOL_LOCK_KEY = '7378139211826278252';
