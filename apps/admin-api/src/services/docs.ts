import type { ExportEntity, FilesystemEntity, FsUsage, JobEntity, JobRecord } from '@ferry/control';

/** The JSON shapes the API answers (also what the CLI reads). */
export interface FilesystemDoc {
  id: string;
  name: string;
  fsid: number;
  poolId: string;
  sizeBytes: number;
  state: string;
  ownerMoverId: string | null;
  usage: FsUsage | null;
  createdAt: Date;
  updatedAt: Date;
}

export function filesystemDoc(row: FilesystemEntity, usage: FsUsage | null = null): FilesystemDoc {
  return {
    id: row.id,
    name: row.name,
    fsid: row.fsid,
    poolId: row.poolId,
    sizeBytes: row.sizeBytes,
    state: row.state,
    ownerMoverId: row.ownerMoverId,
    usage,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export interface ExportDoc {
  id: string;
  filesystemId: string;
  filesystem: { id: string; name: string; fsid: number } | null;
  path: string;
  clients: string[];
  access: string;
  rootSquash: boolean;
  allSquash: boolean;
  anonUid: number;
  anonGid: number;
  secure: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export function exportDoc(row: ExportEntity): ExportDoc {
  return {
    id: row.id,
    filesystemId: row.filesystemId,
    filesystem: row.filesystem ? { id: row.filesystem.id, name: row.filesystem.name, fsid: row.filesystem.fsid } : null,
    path: row.path,
    clients: row.clients,
    access: row.access,
    rootSquash: row.rootSquash,
    allSquash: row.allSquash,
    anonUid: row.anonUid,
    anonGid: row.anonGid,
    secure: row.secure,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** A job as the API shows it: its row in the job store (libs/control/src/jobs). */
export type JobDoc = Omit<JobRecord, 'params'> & { params: Record<string, unknown> };

export function jobDoc(row: JobEntity): JobDoc {
  return {
    id: row.id,
    type: row.type,
    params: row.params,
    state: row.state,
    progress: row.progress,
    detail: row.detail,
    result: row.result,
    error: row.error,
    idempotencyKey: row.idempotencyKey,
    createdBy: row.createdBy,
    cancelRequested: row.cancelRequested,
    attempts: row.attempts,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
  };
}
