// Goal: a non-idempotent call retransmitted after its filesystem changed owner gets the original
// reply bytes (not NOENT or EXIST), and the write verifier changes with the owner, so clients
// resend UNSTABLE data. Two movers cannot share a pool yet, so the change of owner here is one
// bare mover killed (SIGKILL, then in a second case SIGTERM) and started again on its data
// directory: the new process recovers the filesystem from the pool alone, as a new owner does.
// Method: the built mover as a real process; REMOVE and CREATE GUARDED sent with chosen xids
// over raw RPC connections, the same xids and arguments sent again from new connections (new
// source ports) to the restarted process, and the reply bodies compared byte for byte.
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthFlavor, RpcClient, type Credential } from '@ferry/oncrpc';
import type { XdrWriter } from '@ferry/xdr';
import { MoverProcess } from '../support/mover-process';
import { Nfs3Client, Stable } from '../support/nfs3-client';

const ROOT: Credential = { flavor: AuthFlavor.AUTH_SYS, sys: { stamp: 1, machinename: 'drc', uid: 0, gid: 0, gids: [] } };
const NFS = 100003;
const PROC_CREATE = 8;
const PROC_REMOVE = 12;
const GUARDED = 1;

/** A free TCP port in this suite's range (33000-33999), checked by binding it. */
async function portInRange(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 33000 + Math.floor(Math.random() * 1000);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port in 33000-33999');
}

/** One call on a connection of its own (a new source port each time); the reply body's bytes. */
async function callOnce(port: number, xid: number, proc: number, args: (w: XdrWriter) => void): Promise<Buffer> {
  const rpc = await RpcClient.connectTcp('127.0.0.1', port, { xidStart: xid, timeoutMs: 10_000 });
  try {
    const { reader } = await rpc.call(NFS, 3, proc, args, ROOT);
    return Buffer.from(reader.buf.subarray(reader.offset, reader.end));
  } finally {
    await rpc.close();
  }
}

function createGuardedArgs(dir: Buffer, name: string): (w: XdrWriter) => void {
  return (w) => {
    w.opaque(dir).string(name).uint(GUARDED);
    // sattr3: mode 0644, nothing else
    w.bool(true).uint(0o644).bool(false).bool(false).bool(false).uint(0).uint(0);
  };
}

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
      const taken = new Set<number>();
      const m = await MoverProcess.start({ nfsPort: await portInRange(taken), httpPort: await portInRange(taken) });
      started.push(m);
      const c = await Nfs3Client.mount('127.0.0.1', m.nfsPort, '/export');
      await c.create(c.root, 'victim');
      const root = c.root;
      await c.close();
      const verf1 = await unstableVerifier(m.nfsPort, 'data');

      const removeXid = 0x0dc0_0001 + (how === 'SIGTERM' ? 16 : 0);
      const createXid = removeXid + 1;
      const removeArgs = (w: XdrWriter): void => void w.opaque(root).string('victim');
      const removed = await callOnce(m.nfsPort, removeXid, PROC_REMOVE, removeArgs);
      expect(removed.readUInt32BE(0)).toBe(0);
      const created = await callOnce(m.nfsPort, createXid, PROC_CREATE, createGuardedArgs(root, 'made-once'));
      expect(created.readUInt32BE(0)).toBe(0);

      // The owner goes away right after its last reply; a new one recovers from the pool alone.
      // The reply record is in the operation's own transaction (FORMAT-engine.md), durable
      // before the reply was sent, so even a kill at once loses nothing.
      if (how === 'SIGKILL') await m.kill9();
      else expect(await m.stop()).toBe(0);
      await m.spawn();

      const removedAgain = await callOnce(m.nfsPort, removeXid, PROC_REMOVE, removeArgs);
      expect(removedAgain.readUInt32BE(0)).toBe(0); // not NFS3ERR_NOENT (2)
      expect(removedAgain.equals(removed)).toBe(true);
      const createdAgain = await callOnce(m.nfsPort, createXid, PROC_CREATE, createGuardedArgs(root, 'made-once'));
      expect(createdAgain.readUInt32BE(0)).toBe(0); // not NFS3ERR_EXIST (17)
      expect(createdAgain.equals(created)).toBe(true);
      // The same arguments under a new xid are a new call, answered by the filesystem as it is.
      expect((await callOnce(m.nfsPort, removeXid + 100, PROC_REMOVE, removeArgs)).readUInt32BE(0)).toBe(2);
      expect((await callOnce(m.nfsPort, createXid + 100, PROC_CREATE, createGuardedArgs(root, 'made-once'))).readUInt32BE(0)).toBe(17);

      const verf2 = await unstableVerifier(m.nfsPort, 'data');
      expect(verf2.equals(verf1)).toBe(false);
    });
  }
});
