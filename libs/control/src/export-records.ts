import type { DataSource } from 'typeorm';
import { ExportEntity } from './entities';
import type { ExportRecord } from './storage-host';

/**
 * The export table as a mover serves it (`StorageHost.setExports`): every export of a `ready`
 * filesystem. A mover calls this on `exports.changed` and on its periodic reload.
 */
export async function loadExportRecords(ds: DataSource): Promise<ExportRecord[]> {
  const rows = await ds.getRepository(ExportEntity).find({ relations: { filesystem: true }, order: { path: 'ASC' } });
  return rows
    .filter((r) => r.filesystem?.state === 'ready')
    .map((r) => ({
      path: r.path,
      fsid: BigInt(r.filesystem!.fsid),
      clients: [...r.clients],
      access: r.access,
      rootSquash: r.rootSquash,
      allSquash: r.allSquash,
      anonUid: r.anonUid,
      anonGid: r.anonGid,
      secure: r.secure,
    }));
}
