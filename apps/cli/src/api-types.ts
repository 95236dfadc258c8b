/**
 * The resources as the CLI reads them (docs/control-plane.md). Fields beyond `id` and the name
 * are optional here on purpose: the CLI shows what the API sends and `-` for the rest, so a
 * field added or left out by the API never breaks a table.
 */
export interface FsUsageDoc {
  sizeBytes?: number | string;
  usedBytes?: number | string;
  freeBytes?: number | string;
  files?: number | string;
  freeFiles?: number | string;
}

export interface FilesystemDoc {
  id: string;
  name: string;
  fsid?: number | string;
  poolId?: string;
  sizeBytes?: number | string;
  state?: string;
  ownerMoverId?: string | null;
  usage?: FsUsageDoc | null;
}

export interface ExportDoc {
  id: string;
  path: string;
  filesystemId?: string;
  filesystem?: { name?: string } | null;
  clients?: string[];
  access?: string;
  rootSquash?: boolean;
  allSquash?: boolean;
  anonUid?: number;
  anonGid?: number;
  secure?: boolean;
}

export interface MoverDoc {
  id: string;
  name: string;
  address?: string;
  nfsPort?: number;
  httpPort?: number;
  state?: string;
  healthy?: boolean;
  lastHeartbeat?: string | null;
  filesystems?: unknown[];
}

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface JobDoc {
  id: string;
  type?: string;
  params?: Record<string, unknown> | null;
  state: JobState | string;
  progress?: number | string | null;
  detail?: Record<string, unknown> | null;
  result?: unknown;
  error?: string | null;
  createdAt?: string;
}

export const FINAL_JOB_STATES: readonly string[] = ['succeeded', 'failed', 'cancelled'];
