/**
 * The admin module is defined before the Nest application that creates the mover's storage
 * host exists; this forwards to the host once the application has built it. A call before
 * that is a programming error in the wiring, reported as such.
 */
import type { ExportRecord, FsckReport, FsUsage, PoolInfo, Progress, ScrubReport, StorageHost } from '@ferry/control';

export class DeferredStorageHost implements StorageHost {
  private target?: StorageHost;

  bind(host: StorageHost): void {
    this.target = host;
  }

  private host(): StorageHost {
    if (!this.target) throw new Error('storage host used before the data mover was created');
    return this.target;
  }

  poolInfo(): Promise<PoolInfo> {
    return this.host().poolInfo();
  }
  addDevice(path: string, sizeBytes: number): Promise<void> {
    return this.host().addDevice(path, sizeBytes);
  }
  createFilesystem(fsid: bigint, sizeBytes: number, progress?: Progress, signal?: AbortSignal): Promise<void> {
    return this.host().createFilesystem(fsid, sizeBytes, progress, signal);
  }
  growFilesystem(fsid: bigint, sizeBytes: number): Promise<void> {
    return this.host().growFilesystem(fsid, sizeBytes);
  }
  deleteFilesystem(fsid: bigint): Promise<void> {
    return this.host().deleteFilesystem(fsid);
  }
  usage(fsid: bigint): Promise<FsUsage | undefined> {
    return this.host().usage(fsid);
  }
  scrub(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<ScrubReport> {
    return this.host().scrub(fsid, progress, signal);
  }
  fsck(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<FsckReport> {
    return this.host().fsck(fsid, progress, signal);
  }
  setExports(exports: ExportRecord[]): void {
    this.host().setExports(exports);
  }
  setExportRefresher(refresh: () => Promise<void>): void {
    this.host().setExportRefresher?.(refresh);
  }
  servedFilesystems(): bigint[] {
    return this.host().servedFilesystems();
  }
}
