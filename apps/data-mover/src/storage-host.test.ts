// Goal: the mover's StorageHost serves several filesystems from one pool and does what the
// control plane asks of it: create (idempotently, also after an interrupted format), grow while
// served, usage, scrub (at its configured rate), fsck offline with handles valid afterwards,
// delete, export changes that refuse the next NFS call, and a restart that finds every filesystem
// again.
// Method: a real pool file in a temp dir, the real engine and NfsService; NFS calls go over TCP
// through the RPC server to the repo's independent NFSv3 client (test/support).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlErrorCode, type ExportRecord } from '@ferry/control';
import { type FileRef, type FileSystem, FsError, FsErrorCode, StableHow } from '@ferry/fs';
import { NfsService, NfsStat3 } from '@ferry/nfs';
import { RpcServer } from '@ferry/oncrpc';
import { Pool } from '@ferry/pool';
import { Nfs3Client, NfsStatusError } from '../../../test/support/nfs3-client';
import { freePort } from '../../../test/support/ports';
import { MoverStorageHost } from './storage-host';

const SLICE = 8 * 1024 * 1024;
const SLICE_DATA = SLICE - 4096;
const owner = { uid: 0, gid: 0 };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const dirs: string[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

let tick = 0;
const clock = () => ({ sec: 1_700_000_000 + Math.floor(tick / 1000), nsec: (tick++ % 1000) * 1000 });

function exportOf(fsid: bigint, path: string, clients: string[]): ExportRecord {
  return { path, fsid, clients, access: 'rw', rootSquash: false, allSquash: false, anonUid: 65534, anonGid: 65534, secure: false };
}

async function start(dir: string, create: boolean, scrubBytesPerSecond?: number): Promise<{ pool: Pool; host: MoverStorageHost; nfs: NfsService }> {
  const dev = join(dir, 'dev0.img');
  const pool = create ? await Pool.create([dev], { createSizeBytes: 40 * SLICE, sliceBytes: SLICE }) : await Pool.open([dev]);
  const nfs = new NfsService({ filesystems: new Map(), exports: [], handleKey: Buffer.alloc(32, 7), logger: quiet });
  const host = new MoverStorageHost({ logger: quiet, clock, random: (n) => Buffer.alloc(n, 3), writeBufferBytes: 4 * 1024 * 1024, scrubBytesPerSecond });
  host.attach(pool, nfs);
  for (const fsid of host.poolFilesystems()) await host.openFilesystem(fsid);
  return { pool, host, nfs };
}

async function stop(t: { pool: Pool; host: MoverStorageHost }): Promise<void> {
  await t.host.closeAll();
  await t.pool.close();
}

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ferry-host-'));
  dirs.push(d);
  return d;
}

async function writeFile(fs: FileSystem, name: string, data: Buffer): Promise<FileRef> {
  const f = await fs.create(fs.root, name, { how: 'unchecked', attrs: {} }, owner);
  const ref = { ino: f.attr.ino, generation: f.attr.generation };
  await fs.write(ref, 0n, data, StableHow.FILE_SYNC);
  return ref;
}

const fill = (seed: number, n: number): Buffer => Buffer.alloc(n, seed);

describe('MoverStorageHost', () => {
  it('creates two filesystems, grows one online, scrubs, checks, deletes and finds them after a restart', async () => {
    const dir = tmp();
    const t = await start(dir, true);
    const steps: number[] = [];
    await t.host.createFilesystem(2n, 4 * SLICE_DATA, (done, total) => steps.push(done / total));
    await t.host.createFilesystem(3n, SLICE_DATA);
    expect(steps[steps.length - 1]).toBe(1);
    expect(t.host.servedFilesystems()).toEqual([2n, 3n]);
    const fs2 = t.host.fileSystem(2n)!;
    const a = await writeFile(fs2, 'a', fill(1, 300_000));

    // Usage comes from the engine: the limit, what the data took, the files.
    const u = (await t.host.usage(2n))!;
    expect(u.sizeBytes).toBe(Math.floor((4 * SLICE_DATA) / 4096) * 4096);
    expect(u.usedBytes).toBeGreaterThanOrEqual(300_000);
    expect(u.files).toBe(2);
    expect(u.freeBytes).toBeLessThan(u.sizeBytes - 300_000);
    expect(await t.host.usage(99n)).toBeUndefined();

    // Fill filesystem 3 to its limit, grow it while served, and write on.
    const fs3 = t.host.fileSystem(3n)!;
    const big = await fs3.create(fs3.root, 'big', { how: 'unchecked', attrs: {} }, owner);
    const bigRef = { ino: big.attr.ino, generation: big.attr.generation };
    let off = 0n;
    const chunk = fill(9, 1024 * 1024);
    let full: unknown;
    for (;;) {
      try {
        await fs3.write(bigRef, off, chunk, StableHow.FILE_SYNC);
        off += BigInt(chunk.length);
      } catch (e) {
        full = e;
        break;
      }
    }
    expect(full).toBeInstanceOf(FsError);
    expect((full as FsError).code).toBe(FsErrorCode.NOSPC);
    const before = (await t.host.usage(3n))!.sizeBytes;
    await expect(t.host.growFilesystem(3n, SLICE_DATA - 4096)).rejects.toMatchObject({ code: ControlErrorCode.Refused });
    await t.host.growFilesystem(3n, 3 * SLICE_DATA);
    expect((await t.host.usage(3n))!.sizeBytes).toBeGreaterThan(before + SLICE_DATA);
    for (let i = 0; i < 4; i++) {
      await fs3.write(bigRef, off, chunk, StableHow.FILE_SYNC);
      off += BigInt(chunk.length);
    }

    // Scrub: every block checked, nothing damaged.
    const progress: number[] = [];
    const scrub = await t.host.scrub(2n, (done, total) => progress.push(done / total), new AbortController().signal);
    expect(scrub.damaged).toEqual([]);
    expect(scrub.blocksChecked).toBe(Math.ceil(300_000 / 4096));
    expect(progress[progress.length - 1]).toBe(1);

    // fsck takes it offline and serves it again; the old handle and root handle still work.
    const rootHandle = t.nfs.rootHandle(2n)!;
    const fsck = await t.host.fsck(2n, () => undefined, new AbortController().signal);
    expect(fsck.problems).toEqual([]);
    expect(fsck.clean).toBe(true);
    expect(fsck.counts.dataBlocks).toBe(Math.ceil(300_000 / 4096));
    expect(t.nfs.rootHandle(2n)).toEqual(rootHandle);
    expect((await t.host.fileSystem(2n)!.read(a, 0n, 10)).data).toEqual(fill(1, 10));

    // Delete is idempotent; create again is idempotent and leaves the data alone.
    await t.host.deleteFilesystem(3n);
    await t.host.deleteFilesystem(3n);
    expect(t.host.servedFilesystems()).toEqual([2n]);
    expect(t.host.poolFilesystems()).toEqual([2n]);
    expect(t.nfs.rootHandle(3n)).toBeUndefined();
    await t.host.createFilesystem(2n, 4 * SLICE_DATA);
    expect((await t.host.fileSystem(2n)!.read(a, 0n, 10)).data).toEqual(fill(1, 10));
    await t.host.createFilesystem(3n, 2 * SLICE_DATA);
    // A new filesystem under a reused id: empty, with the new limit (nothing of the deleted one).
    const fs3b = t.host.fileSystem(3n)!;
    await expect(fs3b.lookup(fs3b.root, 'big')).rejects.toMatchObject({ code: FsErrorCode.NOENT });
    expect((await t.host.usage(3n))!.sizeBytes).toBe(Math.floor((2 * SLICE_DATA) / 4096) * 4096);
    const c = await writeFile(t.host.fileSystem(3n)!, 'c', fill(4, 5000));
    await stop(t);

    // A restart finds both, with their data and limits.
    const r = await start(dir, false);
    cleanups.push(() => stop(r));
    expect(r.host.servedFilesystems()).toEqual([2n, 3n]);
    expect((await r.host.fileSystem(2n)!.read(a, 0n, 300_000)).data).toEqual(fill(1, 300_000));
    expect((await r.host.fileSystem(3n)!.read(c, 0n, 5000)).data).toEqual(fill(4, 5000));
    expect((await r.host.usage(3n))!.sizeBytes).toBe(Math.floor((2 * SLICE_DATA) / 4096) * 4096);
  });

  it('finishes a create whose format was interrupted, and refuses to format over damage', async () => {
    const t = await start(tmp(), true);
    cleanups.push(() => stop(t));
    // Interrupted right after the space was created: blank superblocks.
    await t.pool.createSpace(5n, { maxBytes: SLICE_DATA });
    await t.host.createFilesystem(5n, SLICE_DATA);
    expect(t.host.servedFilesystems()).toEqual([5n]);
    // A space whose start holds garbage is not ours to overwrite.
    const s6 = await t.pool.createSpace(6n, { maxBytes: SLICE_DATA });
    await s6.write(Buffer.alloc(4096, 0xab), 0);
    await expect(t.host.createFilesystem(6n, SLICE_DATA)).rejects.toMatchObject({ code: ControlErrorCode.Conflict });
    await expect(t.host.createFilesystem(7n, 4096)).rejects.toMatchObject({ code: ControlErrorCode.Refused });
    await expect(t.host.growFilesystem(6n, 2 * SLICE_DATA)).rejects.toMatchObject({ code: ControlErrorCode.NotFound });
  });

  it('delete aborts a running scrub; a cancelled scrub rejects with AbortError', async () => {
    const t = await start(tmp(), true);
    cleanups.push(() => stop(t));
    await t.host.createFilesystem(2n, 4 * SLICE_DATA);
    const fs = t.host.fileSystem(2n)!;
    for (let i = 0; i < 6; i++) await writeFile(fs, `f${i}`, fill(i, 2 * 1024 * 1024));
    const ac = new AbortController();
    const cancelled = t.host.scrub(2n, (done) => done > 0 && ac.abort(), ac.signal);
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
    const running = t.host.scrub(2n, () => undefined, new AbortController().signal);
    const settled = running.then(
      () => 'finished',
      (e: Error) => e.name,
    );
    await t.host.deleteFilesystem(2n);
    expect(await settled).toBe('AbortError');
    expect(t.host.servedFilesystems()).toEqual([]);
  });

  it('scrubs at the configured rate, and delete still aborts a throttled scrub at once', async () => {
    const rate = 8 * 1024 * 1024;
    const t = await start(tmp(), true, rate);
    cleanups.push(() => stop(t));
    await t.host.createFilesystem(2n, 4 * SLICE_DATA);
    const fs = t.host.fileSystem(2n)!;
    for (let i = 0; i < 2; i++) await writeFile(fs, `f${i}`, fill(i + 1, 2 * 1024 * 1024));
    const t0 = performance.now();
    const r = await t.host.scrub(2n, () => undefined, new AbortController().signal);
    const elapsedMs = performance.now() - t0;
    expect(r.bytesChecked).toBe(4 * 1024 * 1024);
    // 4 MiB at 8 MiB/s: 500 ms, less the last 256 KiB read (granted without waiting for its share).
    expect(elapsedMs).toBeGreaterThanOrEqual(((4 * 1024 * 1024 - 256 * 1024) / rate) * 1000);

    const running = t.host.scrub(2n, () => undefined, new AbortController().signal);
    const settled = running.then(
      () => 'finished',
      (e: Error) => e.name,
    );
    await new Promise((r) => setTimeout(r, 150));
    const d0 = performance.now();
    await t.host.deleteFilesystem(2n);
    expect(await settled).toBe('AbortError');
    expect(performance.now() - d0).toBeLessThan(1000);
  });

  it('narrowing the exports refuses the next NFS call with NFS3ERR_ACCES', async () => {
    const t = await start(tmp(), true);
    cleanups.push(() => stop(t));
    await t.host.createFilesystem(2n, 2 * SLICE_DATA);
    t.host.setExports([exportOf(2n, '/data', ['127.0.0.1'])]);
    const rpc = new RpcServer({ programs: t.nfs.programs(), logger: quiet });
    const port = await freePort();
    await rpc.listenTcp(port, '127.0.0.1');
    cleanups.push(() => rpc.close());
    const client = await Nfs3Client.mount('127.0.0.1', port, '/data');
    cleanups.push(() => client.close());
    const fh = await client.create(client.root, 'x');
    await client.write(fh, 0n, Buffer.from('hello'), 2);
    expect((await client.getattr(fh)).size).toBe(5n);
    t.host.setExports([exportOf(2n, '/data', ['10.1.2.3'])]);
    const refused = await client.getattr(fh).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NfsStatusError);
    expect((refused as NfsStatusError).status).toBe(NfsStat3.NFS3ERR_ACCES);
    t.host.setExports([exportOf(2n, '/data', ['127.0.0.0/8'])]);
    expect((await client.read(fh, 0n, 5)).data.toString()).toBe('hello');
  });
});
