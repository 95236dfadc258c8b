/**
 * The job processors of the process that holds the pool (docs/control-plane.md, "Jobs"): each
 * wraps a StorageHost call and keeps the filesystem's row in step. All are idempotent: a run
 * that died part-way starts over (format leaves an already formatted filesystem as it is; scrub
 * and fsck only read).
 */
import type { DataSource } from 'typeorm';
import { EVENT_TOPICS, ExportEntity, FilesystemEntity, type EventBus, type JobContext, type JobProcessor, type StorageHost } from '@ferry/control';

interface FsParams {
  filesystemId: string;
  fsid: string;
}
interface FormatParams extends FsParams {
  sizeBytes: number;
}

function fsParams(raw: unknown): FsParams {
  const p = raw as Partial<FsParams> | null;
  if (!p || typeof p.filesystemId !== 'string' || typeof p.fsid !== 'string' || !/^\d+$/.test(p.fsid)) {
    throw new Error(`job parameters ${JSON.stringify(raw)}: filesystemId and a decimal fsid are required`);
  }
  return { filesystemId: p.filesystemId, fsid: p.fsid };
}

export interface ProcessorDeps {
  ds: DataSource;
  host: StorageHost;
  events: EventBus;
  /** The mover row of this process: the owner recorded for filesystems it formats. */
  moverId: () => string | undefined;
}

export function storageProcessors(deps: ProcessorDeps): JobProcessor[] {
  const { ds, host, events } = deps;
  const fsRepo = () => ds.getRepository(FilesystemEntity);

  const format: JobProcessor = {
    type: 'format',
    async run(ctx: JobContext): Promise<unknown> {
      const p = fsParams(ctx.params) as FormatParams;
      const sizeBytes = (ctx.params as Partial<FormatParams>).sizeBytes;
      if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new Error('format: sizeBytes must be a positive integer');
      const row = await fsRepo().findOneBy({ id: p.filesystemId });
      if (!row) throw new Error(`filesystem ${p.filesystemId} no longer exists`);
      if (row.state === 'deleting') throw new Error(`filesystem ${row.name} is being deleted`);
      try {
        await host.createFilesystem(BigInt(p.fsid), sizeBytes, (done, total, detail) => ctx.progress(done, total, detail), ctx.signal);
      } catch (err) {
        if (!ctx.signal.aborted) await fsRepo().update({ id: row.id, state: 'creating' }, { state: 'failed' });
        throw err;
      }
      await fsRepo().update({ id: row.id }, { state: 'ready', ownerMoverId: deps.moverId() ?? null });
      ctx.progress(1, 1);
      await events.publish(EVENT_TOPICS.filesystemsChanged, { filesystemId: row.id });
      await events.publish(EVENT_TOPICS.exportsChanged, { filesystemId: row.id });
      return { filesystemId: row.id, fsid: p.fsid, sizeBytes };
    },
  };

  const scrub: JobProcessor = {
    type: 'scrub',
    async run(ctx: JobContext): Promise<unknown> {
      const p = fsParams(ctx.params);
      const report = await host.scrub(BigInt(p.fsid), (done, total, detail) => ctx.progress(done, total, detail), ctx.signal);
      const damagedCount = report.damagedCount ?? report.damaged.length;
      return { ...report, damagedCount, clean: damagedCount === 0 };
    },
  };

  const fsck: JobProcessor = {
    type: 'fsck',
    async run(ctx: JobContext): Promise<unknown> {
      const p = fsParams(ctx.params);
      // The API refuses an fsck of an exported filesystem; an export added since is refused here.
      const exported = await ds.getRepository(ExportEntity).countBy({ filesystemId: p.filesystemId });
      if (exported > 0) throw new Error('the filesystem is exported: remove its exports before an offline check');
      return host.fsck(BigInt(p.fsid), (done, total, detail) => ctx.progress(done, total, detail), ctx.signal);
    },
  };

  return [format, scrub, fsck];
}
