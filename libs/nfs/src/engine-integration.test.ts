/**
 * Goal: the NFS layer works over the real filesystem engine, not only over the test double
 * (names, ".", "..", cookies, wcc data and write verifiers as the engine really gives them).
 * Method: an NfsService over a formatted engine on a MemoryVolume, driven through its program
 * handlers with encoded arguments, checking the decoded replies of a small workload.
 */
import { describe, expect, it } from 'vitest';
import { type FileSystem, formatFileSystem, MemoryVolume, openFileSystem, type Timespec } from '@ferry/fs';
import type { RpcProgram } from '@ferry/oncrpc';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import { NfsService } from './nfs-service';
import type { Nfs3Procedure } from './nfs3/procedure';
import { COMMIT, CREATE, GETATTR, LOOKUP, MKDIR, READ, READDIRPLUS, REMOVE, RENAME, RMDIR, WRITE } from './nfs3/procedures';
import type { Res } from './nfs3/result';
import { Createmode3, NfsStat3, StableHow3 } from './nfs3/xdr-types';
import { defaultExport, FSID, KEY, rawCall, sys } from './testing/harness';

function okOf<Ok, Fail>(r: Res<Ok, Fail>): Ok {
  if (r.status !== NfsStat3.NFS3_OK) throw new Error(`expected NFS3_OK, got ${NfsStat3[r.status]}`);
  return r.resok;
}

async function setup(): Promise<{ call: <A, R>(spec: Nfs3Procedure<A, R>, args: A) => Promise<R>; raw: <A>(spec: Nfs3Procedure<A, unknown>, args: A) => Promise<Buffer>; root: Buffer; fs: FileSystem }> {
  let n = 0;
  const clock = (): Timespec => {
    n++;
    return { sec: 1_700_000_000 + Math.floor(n / 1000), nsec: (n % 1000) * 1000 };
  };
  const volume = new MemoryVolume({});
  await formatFileSystem(volume, { fsid: FSID, clock, rootMode: 0o777 });
  const fs = await openFileSystem(volume, { fsid: FSID, clock, random: (k) => Buffer.alloc(k, 3) });
  const quiet = { info: () => undefined, warn: () => undefined, error: (o: object) => console.error(o) };
  const service = new NfsService({ filesystems: new Map([[FSID, fs]]), exports: [defaultExport()], handleKey: KEY, logger: quiet });
  const nfs = service.programs()[1] as RpcProgram;
  const cred = sys(1000, 1000);
  const call = async <A, R>(spec: Nfs3Procedure<A, R>, args: A): Promise<R> => {
    const w = new XdrWriter();
    spec.encodeArgs(w, args);
    const r = new XdrReader(await rawCall(nfs, spec.proc, Buffer.from(w.bytes()), { cred }));
    const res = spec.decodeRes(r);
    r.expectEnd();
    return res;
  };
  const raw = async <A>(spec: Nfs3Procedure<A, unknown>, args: A): Promise<Buffer> => {
    const w = new XdrWriter();
    spec.encodeArgs(w, args);
    return rawCall(nfs, spec.proc, Buffer.from(w.bytes()), { cred });
  };
  return { call, raw, root: service.rootHandle(FSID) as Buffer, fs };
}

describe('NFS over the real engine', () => {
  it('runs a small workload', async () => {
    const { call, root } = await setup();
    const d = okOf(await call(MKDIR, { where: { dir: root, name: 'docs' }, attributes: { mode: 0o755 } })).obj as Buffer;
    const created = okOf(await call(CREATE, { where: { dir: d, name: 'a.txt' }, how: { mode: Createmode3.GUARDED, obj_attributes: { mode: 0o444 } } }));
    expect(created.obj_attributes?.uid).toBe(1000);
    expect(created.dir_wcc.before).toBeDefined();
    const f = created.obj as Buffer;
    // Owner override: writing its own 0444 file works, as on knfsd.
    const w = okOf(await call(WRITE, { file: f, offset: 0n, count: 5, stable: StableHow3.UNSTABLE, data: Buffer.from('hello') }));
    expect(w.count).toBe(5);
    const c = okOf(await call(COMMIT, { file: f, offset: 0n, count: 0 }));
    expect(c.verf.equals(w.verf)).toBe(true);
    const r = okOf(await call(READ, { file: f, offset: 0n, count: 100 }));
    expect(r.data.toString()).toBe('hello');
    expect(r.eof).toBe(true);
    for (let i = 0; i < 20; i++) okOf(await call(CREATE, { where: { dir: d, name: `f${i}` }, how: { mode: Createmode3.UNCHECKED, obj_attributes: {} } }));
    const names: string[] = [];
    let cookie = 0n;
    let verf: Buffer = Buffer.alloc(8);
    for (let round = 0; round < 50; round++) {
      const page = okOf(await call(READDIRPLUS, { dir: d, cookie, cookieverf: verf, dircount: 128, maxcount: 1024 }));
      names.push(...page.entries.map((e) => e.name));
      verf = page.cookieverf;
      if (page.eof) break;
      cookie = (page.entries.at(-1) as { cookie: bigint }).cookie;
    }
    expect(names.sort()).toEqual(['.', '..', 'a.txt', ...Array.from({ length: 20 }, (_, i) => `f${i}`)].sort());
    okOf(await call(RENAME, { from: { dir: d, name: 'a.txt' }, to: { dir: root, name: 'b.txt' } }));
    const looked = okOf(await call(LOOKUP, { what: { dir: root, name: 'b.txt' } }));
    expect(looked.object.equals(f)).toBe(true);
    expect((await call(RMDIR, { object: { dir: root, name: 'docs' } })).status).toBe(NfsStat3.NFS3ERR_NOTEMPTY);
    okOf(await call(REMOVE, { object: { dir: root, name: 'b.txt' } }));
    expect((await call(GETATTR, { object: f })).status).toBe(NfsStat3.NFS3ERR_STALE);
    const parent = okOf(await call(LOOKUP, { what: { dir: d, name: '..' } }));
    expect(parent.object.equals(root)).toBe(true);
  });

  it('sends the reply a non-idempotent call kept with its operation, encoded once', async () => {
    const { raw, root, fs } = await setup();
    let encodes = 0;
    const encodeRes = CREATE.encodeRes;
    CREATE.encodeRes = (w, r) => {
      encodes++;
      encodeRes(w, r);
    };
    try {
      const before = fs.replyRecords().length;
      const sent = await raw(CREATE, { where: { dir: root, name: 'once' }, how: { mode: Createmode3.GUARDED, obj_attributes: { mode: 0o644 } } });
      const records = fs.replyRecords();
      expect(records.length).toBe(before + 1);
      // The body as sent, and the record's reply: the same bytes.
      expect(records.at(-1)!.reply.equals(sent)).toBe(true);
      expect(encodes).toBe(1);
      // A failure is not kept, and is encoded for the wire as usual.
      const again = await raw(CREATE, { where: { dir: root, name: 'once' }, how: { mode: Createmode3.GUARDED, obj_attributes: { mode: 0o644 } } });
      expect(new XdrReader(again).uint()).toBe(NfsStat3.NFS3ERR_EXIST);
      expect(fs.replyRecords().length).toBe(before + 1);
      expect(encodes).toBe(2);
    } finally {
      CREATE.encodeRes = encodeRes;
    }
  });
});
