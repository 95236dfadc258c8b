/**
 * Goal: a retransmitted non-idempotent call that reaches the next owner of its filesystem gets
 * the original reply bytes, the write verifier changes every time a filesystem is added, and
 * "try again" answers are never cached; the record key codec is exact and total.
 * Method: NfsServices over the real engine on a MemoryVolume; a call, then a crash copy (or a
 * clean close) reopened by a second service, then the same xid and arguments from another port;
 * the key codec by golden bytes and fast-check.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FileSystem, formatFileSystem, MemoryVolume, openFileSystem, type Timespec } from '@ferry/fs';
import type { RpcProgram } from '@ferry/oncrpc';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import type { DrcRecord } from './drc';
import { decodeDrcKey, encodeDrcKey } from './drc-record';
import { NfsService } from './nfs-service';
import type { Nfs3Procedure } from './nfs3/procedure';
import { COMMIT, CREATE, LINK, MKDIR, REMOVE, RENAME, WRITE } from './nfs3/procedures';
import { Createmode3, NfsStat3, StableHow3 } from './nfs3/xdr-types';
import { defaultExport, FSID, KEY, rawCall, ROOT } from './testing/harness';
import { MemoryFileSystem } from './testing/memory-fs';

const quiet = { info: () => undefined, warn: () => undefined, error: (o: object) => console.error(o) };

function ticking(): () => Timespec {
  let n = 0;
  return () => {
    n++;
    return { sec: 1_700_000_000 + Math.floor(n / 1000), nsec: (n % 1000) * 1000 };
  };
}

function encode<A, R>(spec: Nfs3Procedure<A, R>, args: A): Buffer {
  const w = new XdrWriter();
  spec.encodeArgs(w, args);
  return Buffer.from(w.bytes());
}

function decode<A, R>(spec: Nfs3Procedure<A, R>, body: Buffer): R {
  const r = new XdrReader(body);
  const res = spec.decodeRes(r);
  r.expectEnd();
  return res;
}

function serve(fs: FileSystem, random?: (n: number) => Buffer): { service: NfsService; nfs: RpcProgram; root: Buffer } {
  const service = new NfsService({ filesystems: new Map([[FSID, fs]]), exports: [defaultExport()], handleKey: KEY, logger: quiet, random });
  return { service, nfs: service.programs()[1] as RpcProgram, root: service.rootHandle(FSID) as Buffer };
}

async function engineOn(volume: MemoryVolume, clock: () => Timespec): Promise<FileSystem> {
  return openFileSystem(volume, { fsid: FSID, clock, random: (k) => Buffer.alloc(k, 3) });
}

async function fresh(): Promise<{ volume: MemoryVolume; clock: () => Timespec; fs: FileSystem }> {
  const clock = ticking();
  const volume = new MemoryVolume({});
  await formatFileSystem(volume, { fsid: FSID, clock, rootMode: 0o777 });
  return { volume, clock, fs: await engineOn(volume, clock) };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('DRC record key', () => {
  const sample: DrcRecord = { client: '10.1.2.3', xid: 0xdeadbeef, prog: 100003, vers: 3, proc: 12, argsChecksum: 0x01020304, completedAtMs: 5, reply: Buffer.from([0, 0, 0, 0]) };

  it('pins its bytes', () => {
    expect(encodeDrcKey(sample)!.toString('hex')).toBe(
      '01' + 'deadbeef' + '000186a3' + '00000003' + '0000000c' + '01020304' + '0000000000000005' + '08' + Buffer.from('10.1.2.3').toString('hex'),
    );
  });

  it('round-trips every record it accepts', () => {
    fc.assert(
      fc.property(
        fc.record({
          client: fc.oneof(fc.ipV4(), fc.ipV6()),
          xid: fc.nat({ max: 0xffff_ffff }),
          prog: fc.nat({ max: 0xffff_ffff }),
          vers: fc.nat({ max: 0xffff_ffff }),
          proc: fc.nat({ max: 0xffff_ffff }),
          argsChecksum: fc.nat({ max: 0xffff_ffff }),
          completedAtMs: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
          reply: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
        }),
        (r) => {
          expect(decodeDrcKey(encodeDrcKey(r)!, r.reply)).toEqual(r);
        },
      ),
    );
    expect(encodeDrcKey({ ...sample, client: 'x'.repeat(256) })).toBeUndefined();
    expect(encodeDrcKey({ ...sample, client: '' })).toBeUndefined();
  });

  it('decodes arbitrary bytes to a record or undefined, never throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        const d = decodeDrcKey(Buffer.from(b), Buffer.alloc(0));
        if (d !== undefined) expect(encodeDrcKey(d)).toEqual(Buffer.from(b));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('the duplicate request cache across owners', () => {
  it('answers a REMOVE retransmitted to the next owner (after a crash) with the original bytes, not NOENT', async () => {
    const { volume, clock, fs } = await fresh();
    const a = serve(fs);
    const made = decode(CREATE, await rawCall(a.nfs, CREATE.proc, encode(CREATE, { where: { dir: a.root, name: 'victim' }, how: { mode: Createmode3.GUARDED, obj_attributes: {} } })));
    expect(made.status).toBe(NfsStat3.NFS3_OK);
    const args = encode(REMOVE, { object: { dir: a.root, name: 'victim' } });
    const first = await rawCall(a.nfs, REMOVE.proc, args, { xid: 0x5151, port: 801 });
    expect(decode(REMOVE, first).status).toBe(NfsStat3.NFS3_OK);
    // The owner dies right after replying: nothing else ran, the record went out by itself.
    for (let t = 0; t < 3; t++) await turn();
    const crashed = volume.crashCopy();
    const b = serve(await engineOn(crashed, clock));
    const again = await rawCall(b.nfs, REMOVE.proc, args, { xid: 0x5151, port: 955 });
    expect(again.equals(first)).toBe(true);
    // A new xid with the same arguments is a new call: the file is gone.
    expect(decode(REMOVE, await rawCall(b.nfs, REMOVE.proc, args, { xid: 0x5152 })).status).toBe(NfsStat3.NFS3ERR_NOENT);
    // Same xid from another client is not this call either.
    expect(decode(REMOVE, await rawCall(b.nfs, REMOVE.proc, args, { xid: 0x5151, address: '10.0.0.6' })).status).toBe(NfsStat3.NFS3ERR_NOENT);
  });

  it('answers CREATE GUARDED, MKDIR, RENAME and LINK from the records after a clean close and reopen', async () => {
    const { volume, clock, fs } = await fresh();
    const a = serve(fs);
    const calls: Array<{ proc: number; args: Buffer; xid: number; reply?: Buffer }> = [
      { proc: CREATE.proc, xid: 1, args: encode(CREATE, { where: { dir: a.root, name: 'f' }, how: { mode: Createmode3.GUARDED, obj_attributes: {} } }) },
      { proc: MKDIR.proc, xid: 2, args: encode(MKDIR, { where: { dir: a.root, name: 'd' }, attributes: {} }) },
    ];
    for (const c of calls) c.reply = await rawCall(a.nfs, c.proc, c.args, { xid: c.xid });
    const f = decode(CREATE, calls[0]!.reply!);
    const d = decode(MKDIR, calls[1]!.reply!);
    if (f.status !== NfsStat3.NFS3_OK || d.status !== NfsStat3.NFS3_OK) throw new Error('setup failed');
    const more = [
      { proc: LINK.proc, xid: 3, args: encode(LINK, { file: f.resok.obj!, link: { dir: d.resok.obj!, name: 'hard' } }) },
      { proc: RENAME.proc, xid: 4, args: encode(RENAME, { from: { dir: a.root, name: 'f' }, to: { dir: d.resok.obj!, name: 'g' } }) },
    ];
    for (const c of more) calls.push({ ...c, reply: await rawCall(a.nfs, c.proc, c.args, { xid: c.xid }) });
    await fs.close();
    const b = serve(await engineOn(volume, clock));
    for (const c of calls) {
      expect(c.reply!.readUInt32BE(0)).toBe(NfsStat3.NFS3_OK);
      const again = await rawCall(b.nfs, c.proc, c.args, { xid: c.xid, port: 2000 + c.xid });
      expect(again.equals(c.reply!)).toBe(true);
    }
  });

  it('does not keep failures with the filesystem, and never caches JUKEBOX', async () => {
    const mem = new MemoryFileSystem({ fsid: FSID, clock: () => 1 });
    const a = serve(mem);
    const args = encode(REMOVE, { object: { dir: a.root, name: 'missing' } });
    expect(decode(REMOVE, await rawCall(a.nfs, REMOVE.proc, args, { xid: 9 })).status).toBe(NfsStat3.NFS3ERR_NOENT);
    expect(mem.replies).toEqual([]);
    mem.remove = () => Promise.reject(Object.assign(new Error('fenced'), { code: 'FENCED' }));
    expect(decode(REMOVE, await rawCall(a.nfs, REMOVE.proc, args, { xid: 10 })).status).toBe(NfsStat3.NFS3ERR_JUKEBOX);
    // The replay of the same xid runs again (the engine answers now), not the cached JUKEBOX.
    mem.remove = MemoryFileSystem.prototype.remove.bind(mem);
    expect(decode(REMOVE, await rawCall(a.nfs, REMOVE.proc, args, { xid: 10 })).status).toBe(NfsStat3.NFS3ERR_NOENT);
    expect(a.service.drcEntries()).toBe(2);
  });

  it('restores records when a filesystem is added, before any call reaches it', async () => {
    const mem = new MemoryFileSystem({ fsid: FSID, clock: () => 1 });
    const a = serve(mem);
    const args = encode(MKDIR, { where: { dir: a.root, name: 'x' }, attributes: {} });
    const first = await rawCall(a.nfs, MKDIR.proc, args, { xid: 77 });
    expect(mem.replies.length).toBe(1);
    const b = new NfsService({ filesystems: new Map(), exports: [defaultExport()], handleKey: KEY, logger: quiet });
    b.addFileSystem(mem);
    expect(b.drcEntries()).toBe(1);
    const again = await rawCall(b.programs()[1] as RpcProgram, MKDIR.proc, args, { xid: 77, port: 999 });
    expect(again.equals(first)).toBe(true);
    expect(mem.calls.get('mkdir')).toBe(1);
  });

  it('keeps one cache per filesystem: restoring or serving another never pushes out what a retransmit needs', async () => {
    const FSID2 = FSID + 1n;
    const memA = new MemoryFileSystem({ fsid: FSID, clock: () => 1 });
    const memB = new MemoryFileSystem({ fsid: FSID2, clock: () => 1 });
    const a = serve(memA);
    const args = encode(MKDIR, { where: { dir: a.root, name: 'probe' }, attributes: {} });
    const first = await rawCall(a.nfs, MKDIR.proc, args, { xid: 4242 });
    expect(decode(MKDIR, first).status).toBe(NfsStat3.NFS3_OK);
    // The other filesystem kept as many records as the bound allows (a busy one).
    for (let i = 0; i < 50; i++) {
      const key = encodeDrcKey({ client: '127.0.0.1', xid: 100_000 + i, prog: 100003, vers: 3, proc: MKDIR.proc, argsChecksum: i, reply: Buffer.alloc(0), completedAtMs: 1 });
      memB.recordReply(key!, Buffer.alloc(8));
    }
    // A new owner with small caches takes A, then B (as after a drain), then serves B's calls.
    const b = new NfsService({ filesystems: new Map(), exports: [defaultExport()], handleKey: KEY, logger: quiet, drcBounds: { maxEntries: 10 } });
    b.addFileSystem(memA);
    b.addFileSystem(memB);
    const rootB = b.rootHandle(FSID2)!;
    for (let i = 0; i < 20; i++) await rawCall(b.programs()[1] as RpcProgram, MKDIR.proc, encode(MKDIR, { where: { dir: rootB, name: `d${i}` }, attributes: {} }), { xid: 200_000 + i });
    const again = await rawCall(b.programs()[1] as RpcProgram, MKDIR.proc, args, { xid: 4242, port: 999 });
    expect(again.equals(first)).toBe(true);
    expect(memA.calls.get('mkdir')).toBe(1);
    // Bounded: at most the bound per filesystem.
    expect(b.drcEntries()).toBeLessThanOrEqual(20);
    // Removed with its filesystem (its records stay with it).
    b.removeFileSystem(FSID2);
    expect(b.drcEntries()).toBeLessThanOrEqual(10);
  });
});

describe('write verifier', () => {
  it('is new every time the filesystem is added, and WRITE and COMMIT answer with it', async () => {
    const { volume, clock, fs } = await fresh();
    let n = 0;
    const random = (k: number): Buffer => Buffer.alloc(k, ++n);
    const a = serve(fs, random);
    const made = decode(CREATE, await rawCall(a.nfs, CREATE.proc, encode(CREATE, { where: { dir: a.root, name: 'w' }, how: { mode: Createmode3.UNCHECKED, obj_attributes: {} } }), { cred: ROOT }));
    if (made.status !== NfsStat3.NFS3_OK) throw new Error('create failed');
    const file = made.resok.obj!;
    const write = async (s: { nfs: RpcProgram }): Promise<Buffer> => {
      const w = decode(WRITE, await rawCall(s.nfs, WRITE.proc, encode(WRITE, { file, offset: 0n, count: 2, stable: StableHow3.UNSTABLE, data: Buffer.from('hi') })));
      if (w.status !== NfsStat3.NFS3_OK) throw new Error('write failed');
      const c = decode(COMMIT, await rawCall(s.nfs, COMMIT.proc, encode(COMMIT, { file, offset: 0n, count: 0 })));
      if (c.status !== NfsStat3.NFS3_OK) throw new Error('commit failed');
      expect(c.resok.verf.equals(w.resok.verf)).toBe(true);
      return w.resok.verf;
    };
    const v1 = await write(a);
    expect(v1.equals(a.service.writeVerifier(FSID)!)).toBe(true);
    // Re-added to the same service (fsck reopen, or the filesystem came back to this mover).
    a.service.removeFileSystem(FSID);
    a.service.addFileSystem(fs);
    const v2 = await write(a);
    expect(v2.equals(v1)).toBe(false);
    // A new owner after a crash: new again, whatever the engine's own verifier says.
    await fs.close();
    const b = serve(await engineOn(volume.crashCopy(), clock), random);
    const v3 = await write(b);
    expect(new Set([v1, v2, v3].map((v) => v.toString('hex'))).size).toBe(3);
  });

  it('comes from real randomness by default: two services over the same filesystem differ', async () => {
    const { fs } = await fresh();
    expect(serve(fs).service.writeVerifier(FSID)!.equals(serve(fs).service.writeVerifier(FSID)!)).toBe(false);
  });
});
