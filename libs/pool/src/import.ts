import type { DeviceStats, FilesystemInfo } from './pool';
import { Pool } from './pool';

/** What `ferry pool import DEVICE...` reports. */
export interface ImportedPool {
  poolId: string;
  sliceBytes: number;
  sliceDataBytes: number;
  devices: DeviceStats[];
  totalSlices: number;
  freeSlices: number;
  filesystems: FilesystemInfo[];
  /** Tolerated damage (for example one bad label copy). */
  warnings: string[];
}

/**
 * Reads a pool from its devices alone (labels, then every slice header) and reports what it
 * holds. Devices are opened read-only: importing never writes. Throws PoolError like Pool.open.
 */
export async function importPool(devicePaths: string[]): Promise<ImportedPool> {
  const pool = await Pool.open(devicePaths, { readOnly: true });
  try {
    const s = pool.stats();
    return {
      poolId: s.poolId,
      sliceBytes: s.sliceBytes,
      sliceDataBytes: s.sliceDataBytes,
      devices: s.devices,
      totalSlices: s.totalSlices,
      freeSlices: s.freeSlices,
      filesystems: pool.listFilesystems(),
      warnings: [...pool.warnings],
    };
  } finally {
    await pool.close();
  }
}
