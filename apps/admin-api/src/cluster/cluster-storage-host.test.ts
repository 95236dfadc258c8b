/**
 * Goal: the cluster admin-api's scrub and fsck go to the filesystem's owner and pass its report
 * on, and are refused with a clear 503 when they cannot be asked (no event bus) or the answer is
 * not a report. Method: ClusterStorageHost with a MaintenanceClient on the in-process bus and a
 * stand-in owner that answers the requests.
 */
import { describe, expect, it } from 'vitest';
import { ControlError, ControlErrorCode, InProcessEventBus, MaintenanceClient, MaintenanceServer, type StorageHost } from '@ferry/control';
import type { Pool } from '@ferry/pool';
import type { MoverStorageHost } from '../../../data-mover/src/storage-host';
import { ClusterStorageHost } from './cluster-storage-host';

const silent = { info: () => undefined, warn: () => undefined };

function hostWith(answer: { scrub?: unknown; fsck?: unknown } | undefined): StorageHost {
  const none = {} as unknown;
  if (!answer) return new ClusterStorageHost({ host: none as MoverStorageHost, pool: none as Pool, db: { query: async () => [] } });
  const bus = new InProcessEventBus();
  new MaintenanceServer({
    events: bus,
    moverId: 'm-1',
    logger: silent,
    work: { owns: () => true, scrub: async (_f, p) => (p(1, 1), answer.scrub), fsck: async () => answer.fsck },
  }).start();
  const maintenance = new MaintenanceClient({ events: bus, owner: async () => ({ moverId: 'm-1', moverName: 'm1', epoch: '1' }), ownerWaitMs: 200, acceptTimeoutMs: 100 });
  return new ClusterStorageHost({ host: none as MoverStorageHost, pool: none as Pool, db: { query: async () => [] }, maintenance });
}

describe('ClusterStorageHost scrub and fsck', () => {
  it('passes the owner reports on', async () => {
    const scrub = { blocksChecked: 3, bytesChecked: 12288, damaged: [], damagedCount: 0, pagesChecked: 5 };
    const fsck = { clean: true, problems: [], counts: { inodes: 2 } };
    const host = hostWith({ scrub, fsck });
    const seen: number[] = [];
    expect(await host.scrub(5n, (d) => seen.push(d), new AbortController().signal)).toEqual(scrub);
    expect(seen).toEqual([1]);
    expect(await host.fsck(5n, () => undefined, new AbortController().signal)).toEqual(fsck);
  });

  it('refuses an answer that is not a report', async () => {
    const host = hostWith({ scrub: { nonsense: true }, fsck: null });
    await expect(host.scrub(5n, () => undefined, new AbortController().signal)).rejects.toThrow(/the owner sent no report/);
    await expect(host.fsck(5n, () => undefined, new AbortController().signal)).rejects.toThrow(/the owner sent no report/);
  });

  it('answers 503 without an event bus to ask the owner', async () => {
    const host = hostWith(undefined);
    const err = await host.scrub(5n, () => undefined, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
    expect((err as ControlError).code).toBe(ControlErrorCode.Unavailable);
    expect((err as ControlError).message).toMatch(/needs REDIS_URL/);
    await expect(host.fsck(5n, () => undefined, new AbortController().signal)).rejects.toThrow(/needs REDIS_URL/);
    await expect(host.addDevice('/x', 1)).rejects.toThrow(/not supported/);
  });
});
