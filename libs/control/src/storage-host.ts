/**
 * StorageHost: what only the process holding the pool may do (the data mover), as the control
 * plane sees it. Plain types, no Nest: job processors and the mover's event handlers call it;
 * apps/data-mover implements it (MoverStorageHost). Sizes are bytes; fsids are the engine's ids.
 */
export interface PoolDeviceInfo {
  index: number;
  path: string;
  sizeBytes: number;
  slices: number;
  freeSlices: number;
}

export interface PoolInfo {
  poolId: string;
  sliceBytes: number;
  totalSlices: number;
  freeSlices: number;
  devices: PoolDeviceInfo[];
}

export interface FsUsage {
  sizeBytes: number;
  usedBytes: number;
  freeBytes: number;
  files: number;
  freeFiles: number;
}

export interface ExportRecord {
  path: string;
  fsid: bigint;
  clients: string[];
  access: 'rw' | 'ro';
  rootSquash: boolean;
  allSquash: boolean;
  anonUid: number;
  anonGid: number;
  secure: boolean;
}

export interface Progress {
  (done: number, total: number, detail?: Record<string, unknown>): void;
}

export interface ScrubReport {
  blocksChecked: number;
  bytesChecked: number;
  /** The first damaged blocks found (the list is capped; see damagedCount). */
  damaged: Array<{ ino: string; offset: number }>;
  /** All damaged blocks found, also those beyond the capped list (default: the list's length). */
  damagedCount?: number;
}

export interface FsckReport {
  clean: boolean;
  problems: string[];
  counts: Record<string, number>;
}

export interface StorageHost {
  poolInfo(): Promise<PoolInfo>;
  addDevice(path: string, sizeBytes: number): Promise<void>;
  /** Creates, formats, opens and serves the filesystem. Idempotent: an existing formatted one is left as is. */
  createFilesystem(fsid: bigint, sizeBytes: number, progress?: Progress, signal?: AbortSignal): Promise<void>;
  /** Raises the size limit (never lowers it). */
  growFilesystem(fsid: bigint, sizeBytes: number): Promise<void>;
  /** Stops serving it and frees its space in the pool. Idempotent. */
  deleteFilesystem(fsid: bigint): Promise<void>;
  usage(fsid: bigint): Promise<FsUsage | undefined>;
  /** Optional: usage() of several filesystems at once (one database query in a cluster); a filesystem with no figure is absent. */
  usageOf?(fsids: readonly bigint[]): Promise<Map<bigint, FsUsage>>;
  /** Reads every data block of a live filesystem and verifies its checksum. Cancel by the signal (rejects with AbortError). */
  scrub(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<ScrubReport>;
  /** Offline check: stops serving the filesystem, checks it read-only, serves it again. */
  fsck(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<FsckReport>;
  /** Replaces the export table served to NFS clients; takes effect for the next call. */
  setExports(exports: ExportRecord[]): void;
  /**
   * How the NFS service asks for the export table to be loaded again when a MNT names a path it
   * does not hold (an export created a moment ago): `refresh` resolves once a load that started
   * after the call has been applied with setExports. Hosts that serve no NFS leave it out.
   */
  setExportRefresher?(refresh: () => Promise<void>): void;
  servedFilesystems(): bigint[];
}
