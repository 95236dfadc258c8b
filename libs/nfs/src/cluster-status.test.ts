/**
 * Goal: a cluster mover answers NFS3ERR_JUKEBOX, never STALE, for a filesystem of the cluster it
 * does not serve right now, and for a call whose filesystem's lease ran out under it (FENCED):
 * the director re-routes both, and a client retries; a handle of a filesystem the cluster does
 * not know stays STALE.
 * Method: an NfsService over a MemoryFileSystem with `servedElsewhere`, and an engine method
 * made to fail as a fenced space does.
 */
import { describe, expect, it } from 'vitest';
import { FileHandleCodec } from './file-handle';
import { GETATTR, MKDIR, REMOVE } from './nfs3/procedures';
import { NfsStat3 } from './nfs3/xdr-types';
import { NfsService } from './nfs-service';
import { rawCall, defaultExport, FSID, KEY } from './testing/harness';
import { MemoryFileSystem } from './testing/memory-fs';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import type { Nfs3Procedure } from './nfs3/procedure';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function call<A, R>(service: NfsService, spec: Nfs3Procedure<A, R>, args: A): Promise<R> {
  const w = new XdrWriter();
  spec.encodeArgs(w, args);
  const reply = await rawCall(service.programs()[1]!, spec.proc, Buffer.from(w.bytes()));
  const r = new XdrReader(reply);
  const res = spec.decodeRes(r);
  r.expectEnd();
  return res;
}

describe('a cluster mover', () => {
  const codec = new FileHandleCodec(KEY);
  const elsewhere = 9n;

  function service(fs: MemoryFileSystem): NfsService {
    return new NfsService({
      filesystems: new Map([[FSID, fs]]),
      exports: [defaultExport(), defaultExport({ path: '/other', fsid: elsewhere })],
      handleKey: KEY,
      logger: quiet,
      servedElsewhere: (fsid) => fsid === elsewhere,
    });
  }

  it('answers JUKEBOX for a filesystem served elsewhere, STALE for an unknown one', async () => {
    const s = service(new MemoryFileSystem({ fsid: FSID, clock: () => 1 }));
    const moved = codec.encode(elsewhere, { ino: 1n, generation: 1 });
    const unknown = codec.encode(elsewhere + 1n, { ino: 1n, generation: 1 });
    expect((await call(s, GETATTR, { object: moved })).status).toBe(NfsStat3.NFS3ERR_JUKEBOX);
    const rm = await call(s, REMOVE, { object: { dir: moved, name: 'x' } });
    expect(rm.status).toBe(NfsStat3.NFS3ERR_JUKEBOX);
    expect((rm as { resfail?: unknown }).resfail).toEqual({ dir_wcc: { before: undefined, after: undefined } });
    expect((await call(s, GETATTR, { object: unknown })).status).toBe(NfsStat3.NFS3ERR_STALE);
  });

  it('answers JUKEBOX with no attributes when the lease runs out under a call', async () => {
    const fs = new MemoryFileSystem({ fsid: FSID, clock: () => 1 });
    const s = service(fs);
    const root = s.rootHandle(FSID)!;
    fs.remove = () => Promise.reject(Object.assign(new Error('fenced'), { code: 'FENCED' }));
    const r = await call(s, REMOVE, { object: { dir: root, name: 'x' } });
    expect(r.status).toBe(NfsStat3.NFS3ERR_JUKEBOX);
    expect((r as { resfail?: unknown }).resfail).toEqual({ dir_wcc: { before: undefined, after: undefined } });
    // The engine wraps it (a failed log write): still JUKEBOX, found through the causes.
    const wrapped = new Error('log write failed', { cause: Object.assign(new Error('fenced'), { code: 'FENCED' }) });
    fs.remove = () => Promise.reject(new Error('volume failed', { cause: wrapped }));
    expect((await call(s, REMOVE, { object: { dir: root, name: 'x' } })).status).toBe(NfsStat3.NFS3ERR_JUKEBOX);
  });
});

describe('durable replies (a cluster mover)', () => {
  const mkdirArgs = (dir: Buffer, name: string) => ({ where: { dir, name }, attributes: {} });

  it('keeps a success reply in the operation itself, byte for byte what was sent, and never waits for it', async () => {
    for (const durableReplies of [false, true]) {
      const fs = new MemoryFileSystem({ fsid: FSID, clock: () => 1 });
      const s = new NfsService({ filesystems: new Map([[FSID, fs]]), exports: [defaultExport()], handleKey: KEY, logger: quiet, durableReplies });
      const root = s.rootHandle(FSID)!;
      const w = new XdrWriter();
      MKDIR.encodeArgs(w, mkdirArgs(root, 'd'));
      const sent = await rawCall(s.programs()[1]!, MKDIR.proc, Buffer.from(w.bytes()));
      expect(fs.answeredRecords).toBe(1);
      expect(fs.replies).toHaveLength(1);
      expect(fs.replies[0]!.reply.equals(sent)).toBe(true);
      // A failure keeps nothing; an idempotent call never waits.
      expect((await call(s, REMOVE, { object: { dir: root, name: 'nothing' } })).status).toBe(NfsStat3.NFS3ERR_NOENT);
      await call(s, GETATTR, { object: root });
      expect(fs.replies).toHaveLength(1);
      expect(fs.repliesDurableCalls).toBe(0);
    }
  });

  it('a reply that differs from the one kept with the operation is recorded after it, with a warning', async () => {
    const fs = new MemoryFileSystem({ fsid: FSID, clock: () => 1 });
    // An engine call that hands its builder another result than the one it resolves with.
    const mkdir = fs.mkdir.bind(fs);
    fs.mkdir = async (dir, name, attrs, owner, answer) =>
      mkdir(dir, name, attrs, owner, answer && ((r) => answer({ ...r, attr: { ...r.attr, size: r.attr.size + 1n } })));
    const warnings: string[] = [];
    const logger = { ...quiet, warn: (_o: object, msg?: string) => void warnings.push(msg ?? '') };
    const s = new NfsService({ filesystems: new Map([[FSID, fs]]), exports: [defaultExport()], handleKey: KEY, logger, durableReplies: true });
    const root = s.rootHandle(FSID)!;
    const w = new XdrWriter();
    MKDIR.encodeArgs(w, mkdirArgs(root, 'd'));
    const sent = await rawCall(s.programs()[1]!, MKDIR.proc, Buffer.from(w.bytes()), { xid: 0x5eed });
    expect(warnings).toContain('reply differs from the one kept with its operation');
    // Kept, then recorded: the newer (what was sent) is the one a restore keeps.
    expect(fs.replies).toHaveLength(2);
    expect(fs.replies[0]!.reply.equals(sent)).toBe(false);
    expect(fs.replies[1]!.reply.equals(sent)).toBe(true);
    expect(fs.repliesDurableCalls).toBe(1);
    // A new owner (a service restoring the records) answers the retransmit with what was sent.
    const s2 = new NfsService({ filesystems: new Map([[FSID, fs]]), exports: [defaultExport()], handleKey: KEY, logger: quiet });
    expect((await rawCall(s2.programs()[1]!, MKDIR.proc, Buffer.from(w.bytes()), { xid: 0x5eed })).equals(sent)).toBe(true);
  });

  it('records a reply its operation did not keep after it, and waits for that record only when asked', async () => {
    for (const durableReplies of [false, true]) {
      const fs = new MemoryFileSystem({ fsid: FSID, clock: () => 1 });
      // An engine call that ignores its ReplyBuilder: the service falls back to recordReply.
      const mkdir = fs.mkdir.bind(fs);
      fs.mkdir = (dir, name, attrs, owner) => mkdir(dir, name, attrs, owner);
      const s = new NfsService({ filesystems: new Map([[FSID, fs]]), exports: [defaultExport()], handleKey: KEY, logger: quiet, durableReplies });
      const root = s.rootHandle(FSID)!;
      expect((await call(s, MKDIR, mkdirArgs(root, 'd'))).status).toBe(NfsStat3.NFS3_OK);
      expect(fs.answeredRecords).toBe(0);
      expect(fs.replies).toHaveLength(1);
      expect(fs.repliesDurableCalls).toBe(durableReplies ? 1 : 0);
    }
  });
});
