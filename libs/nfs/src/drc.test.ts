/**
 * Goal: the duplicate request cache answers a retransmitted non-idempotent call with the
 * original reply, runs the procedure once, and stays within its bounds.
 * Method: the cache alone with scripted executors, then through the NFS program with the
 * in-memory engine (calls repeated with the same xid from another port, or while in flight).
 */
import { describe, expect, it } from 'vitest';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import { DuplicateRequestCache, type DrcKey } from './drc';
import { CREATE, REMOVE } from './nfs3/procedures';
import { Createmode3, NfsStat3 } from './nfs3/xdr-types';
import { Harness, rawCall } from './testing/harness';

const key = (xid: number, client = '10.0.0.1'): DrcKey => ({ client, xid, prog: 100003, vers: 3, proc: 8 });

async function runOnce(drc: DuplicateRequestCache, k: DrcKey, sum: number, body: number): Promise<{ out: Buffer; ran: boolean }> {
  const w = new XdrWriter();
  let ran = false;
  await drc.run(k, sum, w, async () => {
    ran = true;
    w.uint(body);
  });
  return { out: Buffer.from(w.bytes()), ran };
}

describe('DuplicateRequestCache', () => {
  it('replays a completed reply for the same key and checksum', async () => {
    const drc = new DuplicateRequestCache();
    const a = await runOnce(drc, key(1), 11, 0xaaaa);
    const b = await runOnce(drc, key(1), 11, 0xbbbb);
    expect(a.ran).toBe(true);
    expect(b.ran).toBe(false);
    expect(b.out).toEqual(a.out);
  });

  it('treats a reused xid with other arguments, or another client, as a new request', async () => {
    const drc = new DuplicateRequestCache();
    await runOnce(drc, key(1), 11, 1);
    expect((await runOnce(drc, key(1), 12, 2)).ran).toBe(true);
    expect((await runOnce(drc, key(1, '10.0.0.2'), 12, 3)).ran).toBe(true);
  });

  it('makes a retransmit wait for the in-progress original', async () => {
    const drc = new DuplicateRequestCache();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w1 = new XdrWriter();
    const first = drc.run(key(5), 1, w1, async () => {
      await gate;
      w1.uint(77);
    });
    const w2 = new XdrWriter();
    let ranTwice = false;
    const second = drc.run(key(5), 1, w2, async () => {
      ranTwice = true;
    });
    release();
    await Promise.all([first, second]);
    expect(ranTwice).toBe(false);
    expect(Buffer.from(w2.bytes())).toEqual(Buffer.from(w1.bytes()));
    expect(drc.stats.waits).toBe(1);
  });

  it('keeps no entry for an execution that threw, and the waiter sees the error', async () => {
    const drc = new DuplicateRequestCache();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = drc.run(key(6), 1, new XdrWriter(), async () => {
      await gate;
      throw new Error('fault');
    });
    const second = drc.run(key(6), 1, new XdrWriter(), async () => undefined);
    release();
    await expect(first).rejects.toThrow('fault');
    await expect(second).rejects.toThrow('fault');
    expect(drc.size).toBe(0);
    expect((await runOnce(drc, key(6), 1, 5)).ran).toBe(true);
  });

  it('evicts the oldest completed entries beyond its entry and byte bounds', async () => {
    const drc = new DuplicateRequestCache({ maxEntries: 3, maxBytes: 1000 });
    for (let i = 0; i < 5; i++) await runOnce(drc, key(i), 1, i);
    expect(drc.size).toBe(3);
    expect((await runOnce(drc, key(0), 1, 0)).ran).toBe(true);
    expect((await runOnce(drc, key(4), 1, 0)).ran).toBe(false);
    const small = new DuplicateRequestCache({ maxEntries: 100, maxBytes: 8 });
    for (let i = 0; i < 5; i++) await runOnce(small, key(i), 1, i);
    expect(small.bytes).toBeLessThanOrEqual(8);
    expect(small.size).toBe(2);
  });

  it('hands out records for persistence and answers from restored ones', async () => {
    const seen: unknown[] = [];
    const a = new DuplicateRequestCache({ onRecord: (r) => seen.push(r), clock: () => 42 });
    const orig = await runOnce(a, key(9), 3, 0x1234);
    expect(seen).toHaveLength(1);
    const b = new DuplicateRequestCache();
    b.restore(a.snapshot());
    const again = await runOnce(b, key(9), 3, 0x9999);
    expect(again.ran).toBe(false);
    expect(again.out).toEqual(orig.out);
    expect(a.snapshot()[0]?.completedAtMs).toBe(42);
  });
});

describe('DRC through the NFS program', () => {
  function createArgs(h: Harness, name: string): Buffer {
    const w = new XdrWriter();
    CREATE.encodeArgs(w, { where: { dir: h.root, name }, how: { mode: Createmode3.GUARDED, obj_attributes: {} } });
    return Buffer.from(w.bytes());
  }

  it('answers a GUARDED CREATE retransmitted from another port with the original reply', async () => {
    const h = new Harness();
    const args = createArgs(h, 'f');
    const a = await rawCall(h.nfs, CREATE.proc, args, { xid: 77, port: 800 });
    const b = await rawCall(h.nfs, CREATE.proc, args, { xid: 77, port: 901 });
    expect(b).toEqual(a);
    expect(CREATE.decodeRes(new XdrReader(b)).status).toBe(NfsStat3.NFS3_OK);
    expect(h.engineCalls('create')).toBe(1);
    // A new xid is a new request: now the file exists.
    const c = await rawCall(h.nfs, CREATE.proc, args, { xid: 78, port: 901 });
    expect(CREATE.decodeRes(new XdrReader(c)).status).toBe(NfsStat3.NFS3ERR_EXIST);
  });

  it('runs an in-flight retransmit once', async () => {
    const h = new Harness();
    const args = createArgs(h, 'g');
    const release = h.fs.hold('create');
    const first = rawCall(h.nfs, CREATE.proc, args, { xid: 90, port: 800 });
    const second = rawCall(h.nfs, CREATE.proc, args, { xid: 90, port: 801 });
    await new Promise((r) => setImmediate(r));
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(b).toEqual(a);
    expect(h.engineCalls('create')).toBe(1);
  });

  it('answers a retransmitted REMOVE with OK, not NOENT', async () => {
    const h = new Harness();
    await rawCall(h.nfs, CREATE.proc, createArgs(h, 'r'));
    const w = new XdrWriter();
    REMOVE.encodeArgs(w, { object: { dir: h.root, name: 'r' } });
    const args = Buffer.from(w.bytes());
    await rawCall(h.nfs, REMOVE.proc, args, { xid: 5, port: 700 });
    const again = await rawCall(h.nfs, REMOVE.proc, args, { xid: 5, port: 701 });
    expect(REMOVE.decodeRes(new XdrReader(again)).status).toBe(NfsStat3.NFS3_OK);
    expect(h.engineCalls('remove')).toBe(1);
  });

  it('keeps no entry for a reply its caller refuses, yet answers the call and its waiters with it', async () => {
    const drc = new DuplicateRequestCache();
    const persisted: number[] = [];
    const hooks = { keep: (b: Buffer) => b.readUInt32BE(0) !== 10008, persist: (r: { xid: number }) => void persisted.push(r.xid) };
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w1 = new XdrWriter();
    const first = drc.run(key(3), 1, w1, async () => {
      await gate;
      w1.uint(10008);
    }, hooks);
    const w2 = new XdrWriter();
    const waiter = drc.run(key(3), 1, w2, () => Promise.reject(new Error('must not run')), hooks);
    release();
    expect(await first).toBe('miss');
    expect(await waiter).toBe('hit');
    expect(Buffer.from(w2.bytes())).toEqual(Buffer.from(w1.bytes()));
    expect(drc.size).toBe(0);
    expect(persisted).toEqual([]);
    // Kept replies reach `persist` once, as they complete.
    const w3 = new XdrWriter();
    await drc.run(key(4), 1, w3, async () => void w3.uint(0), hooks);
    expect(persisted).toEqual([4]);
    expect(drc.size).toBe(1);
  });
});
