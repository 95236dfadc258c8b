// Goal: a non-idempotent call retransmitted after its filesystem changed owner gets the original
// reply bytes (not NOENT or EXIST), and the write verifier changes with the owner, so clients
// resend UNSTABLE data. The change of owner here is one bare mover killed (SIGKILL, then in a
// second case SIGTERM) and started again on its data directory: the new process recovers the
// filesystem from the pool alone, as a new owner does (the same across movers of a cluster is
// in cluster.test.ts and directors.test.ts).
// Method: the built mover as a real process; REMOVE and CREATE GUARDED sent with chosen xids
// over raw RPC connections, the same xids and arguments sent again from new connections (new
// source ports) to the restarted process, and the reply bodies compared byte for byte.
import { afterEach, describe, expect, it } from 'vitest';
import { MoverProcess } from '../support/mover-process';
import { Nfs3Client, Stable } from '../support/nfs3-client';
import { callOnce, createGuardedArgs, NFS3ERR_EXIST, NFS3ERR_NOENT, PROC_CREATE, PROC_REMOVE, removeArgs, rootCredential } from '../support/raw-nfs';

const ROOT = rootCredential('drc');

async function unstableVerifier(port: number, name: string): Promise<Buffer> {
  const c = await Nfs3Client.mount('127.0.0.1', port, '/export');
  try {
    let fh: Buffer;
    try {
      fh = (await c.lookup(c.root, name)).fh;
    } catch {
      fh = await c.create(c.root, name);
    }
    const w = await c.write(fh, 0n, Buffer.from('unstable'), Stable.UNSTABLE);
    expect(w.committed).toBe(Stable.UNSTABLE);
    const committed = await c.commit(fh);
    expect(committed.equals(w.verf)).toBe(true);
    return w.verf;
  } finally {
    await c.close();
  }
}

describe('duplicate request cache across a change of owner (one bare mover, restarted)', () => {
  const started: MoverProcess[] = [];
  afterEach(async () => {
    for (const m of started.splice(0)) await m.stop();
  });

  for (const how of ['SIGKILL', 'SIGTERM'] as const) {
    it(`answers retransmitted REMOVE and CREATE GUARDED with the original bytes after ${how} and restart`, async () => {
      const m = await MoverProcess.start();
      started.push(m);
      const c = await Nfs3Client.mount('127.0.0.1', m.nfsPort, '/export');
      await c.create(c.root, 'victim');
      const root = c.root;
      await c.close();
      const verf1 = await unstableVerifier(m.nfsPort, 'data');

      const removeXid = 0x0dc0_0001 + (how === 'SIGTERM' ? 16 : 0);
      const createXid = removeXid + 1;
      const remove = removeArgs(root, 'victim');
      const call = (xid: number, proc: number, args: Parameters<typeof callOnce>[3]): Promise<Buffer> => callOnce(m.nfsPort, xid, proc, args, { cred: ROOT, timeoutMs: 10_000 });
      const removed = await call(removeXid, PROC_REMOVE, remove);
      expect(removed.readUInt32BE(0)).toBe(0);
      const created = await call(createXid, PROC_CREATE, createGuardedArgs(root, 'made-once'));
      expect(created.readUInt32BE(0)).toBe(0);

      // The owner goes away right after its last reply; a new one recovers from the pool alone.
      // The reply record is in the operation's own transaction (FORMAT-engine.md), durable
      // before the reply was sent, so even a kill at once loses nothing.
      if (how === 'SIGKILL') await m.kill9();
      else expect(await m.stop()).toBe(0);
      await m.spawn();

      const removedAgain = await call(removeXid, PROC_REMOVE, remove);
      expect(removedAgain.readUInt32BE(0)).toBe(0); // not NFS3ERR_NOENT
      expect(removedAgain.equals(removed)).toBe(true);
      const createdAgain = await call(createXid, PROC_CREATE, createGuardedArgs(root, 'made-once'));
      expect(createdAgain.readUInt32BE(0)).toBe(0); // not NFS3ERR_EXIST
      expect(createdAgain.equals(created)).toBe(true);
      // The same arguments under a new xid are a new call, answered by the filesystem as it is.
      expect((await call(removeXid + 100, PROC_REMOVE, remove)).readUInt32BE(0)).toBe(NFS3ERR_NOENT);
      expect((await call(createXid + 100, PROC_CREATE, createGuardedArgs(root, 'made-once'))).readUInt32BE(0)).toBe(NFS3ERR_EXIST);

      const verf2 = await unstableVerifier(m.nfsPort, 'data');
      expect(verf2.equals(verf1)).toBe(false);
    });
  }
});
