// Goal: several load directors run side by side in front of one cluster and keep no state that
// matters (issue 5): both hand out the same file handles, a call sent through one is answered the
// same through the other, and when one director is killed, a client that resends its call (same
// xid, as a client does on a new connection) through another gets the original reply, while the
// clients of the other director see nothing at all. An export created through the API is
// mountable through either director as soon as the API has answered.
// Method: the cluster harness (PostgreSQL, Redis, admin-api, two movers, director A) plus a
// second director B made here; a verifying workload through B for the whole test; raw RPC calls
// with chosen xids through A and B; A killed with SIGKILL, once after a reply and then with calls
// still in flight, and restarted.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from '@ferry/oncrpc';
import { Cluster, DIRECTOR_MAIN, NodeProcess } from '../support/cluster';
import { Nfs3Client, Stable } from '../support/nfs3-client';
import { freePort } from '../support/ports';
import { callOnce as rawCall, createGuardedArgs as createGuarded, NFS3ERR_EXIST, NFS_PROGRAM as NFS, PROC_CREATE, rootCredential } from '../support/raw-nfs';
import { VerifyWorkload } from '../support/verify-workload';

const ROOT = rootCredential('directors');
const callOnce = (port: number, xid: number, args: Parameters<typeof rawCall>[3]): Promise<Buffer> => rawCall(port, xid, PROC_CREATE, args, { cred: ROOT });

describe('two load directors in front of one cluster', () => {
  let c: Cluster;
  let b: NodeProcess;
  let portB = 0;
  let path = '';

  beforeAll(async () => {
    if (!existsSync(DIRECTOR_MAIN)) throw new Error(`${DIRECTOR_MAIN} missing: run "npm run build" first`);
    c = await Cluster.start({ movers: 2 });
    path = (await c.createExportedFilesystem('shared')).path;
    await c.waitSettled((rows) => rows.length === 1);
    portB = await freePort();
    b = new NodeProcess('director-b', DIRECTOR_MAIN, { ...c.common, FERRY_NFS_PORT: String(portB), FERRY_HOLD_MS: '20000' }, await freePort(), join(c.dir, 'director-b.log'));
    await b.start();
  }, 180_000);

  afterAll(async () => {
    await b?.stop().catch(() => undefined);
    await c?.stop();
  });

  it('serve the same handles and data, and a killed director costs its clients only a resend', async () => {
    const workload = await VerifyWorkload.start('127.0.0.1', portB, path, 'via-b');
    const viaA = await Nfs3Client.mount('127.0.0.1', c.directorPort, path);
    const viaB = await Nfs3Client.mount('127.0.0.1', portB, path);
    try {
      // Same handles through either director; what one writes, the other reads.
      expect(viaA.root.equals(viaB.root)).toBe(true);
      const fh = await viaA.create(viaA.root, 'written-through-a');
      const data = Buffer.alloc(200_000, 0x5a);
      await viaA.write(fh, 0n, data, Stable.FILE_SYNC);
      expect((await viaB.lookup(viaB.root, 'written-through-a')).fh.equals(fh)).toBe(true);
      expect((await viaB.readAll(fh)).equals(data)).toBe(true);
    } finally {
      await viaA.close();
      await viaB.close();
    }
    const mounted = await Nfs3Client.mount('127.0.0.1', portB, path);
    const root = mounted.root;
    await mounted.close();

    // A reply seen through A, then A killed: the same call resent through B gets the same bytes.
    const first = await callOnce(c.directorPort, 0x7d1_0000, createGuarded(root, 'once'));
    expect(first.readUInt32BE(0)).toBe(0);
    await c.director.kill9();
    const again = await callOnce(portB, 0x7d1_0000, createGuarded(root, 'once'));
    expect(again.equals(first)).toBe(true);

    // Calls still in flight when A dies: resent through B, each gets a success (the original
    // reply or its first execution), never EXIST from running twice.
    const outcomes: string[] = [];
    for (let round = 0; round < 6; round++) {
      await c.director.start();
      const xid = 0x7d2_0000 + round;
      const rpc = await RpcClient.connectTcp('127.0.0.1', c.directorPort, { xidStart: xid, timeoutMs: 30_000 });
      const inFlight = rpc.call(NFS, 3, PROC_CREATE, createGuarded(root, `race-${round}`), ROOT).then(
        () => 'answered',
        () => 'lost',
      );
      await new Promise((r) => setTimeout(r, round * 3));
      await c.director.kill9();
      outcomes.push(await inFlight);
      await rpc.close().catch(() => undefined);
      const resent = await callOnce(portB, xid, createGuarded(root, `race-${round}`));
      expect(resent.readUInt32BE(0), `round ${round}: status ${resent.readUInt32BE(0)}`).not.toBe(NFS3ERR_EXIST);
      expect(resent.readUInt32BE(0)).toBe(0);
    }

    console.log(`[directors] calls in flight through the killed director: ${outcomes.join(', ')} (each resent through the other)`);

    // A restarted director serves again at once from the routes in PostgreSQL.
    await c.director.start();
    const back = await Nfs3Client.mount('127.0.0.1', c.directorPort, path);
    try {
      expect((await back.lookup(back.root, 'race-5')).fh.length).toBeGreaterThan(0);
    } finally {
      await back.close();
    }

    // The clients of B never noticed A going away.
    const report = await workload.stopAndVerify();
    expect(report.errors).toEqual([]);
    expect(report.files).toBeGreaterThan(0);
    expect(report.maxCallMs).toBeLessThan(2000);
  }, 180_000);

  it('mount a new export the moment the API has answered, whichever mover owns it', async () => {
    // A second filesystem, so the two are owned by different movers: a director that sent a MNT
    // of a path it has not heard of to "any mover" would reach the wrong one for one of them.
    const second = await c.createExportedFilesystem('second', 1024 ** 3);
    const rows = await c.waitSettled((r) => r.length === 2);
    expect(new Set(rows.map((r) => r.owner)).size).toBe(2);
    const ids = new Map<string, string>(((await c.api('GET', '/filesystems')).items as Array<{ id: string; fsid: number | string }>).map((f) => [String(f.fsid), f.id]));
    for (const [i, row] of rows.entries()) {
      for (const [d, port] of [['a', c.directorPort], ['b', portB]] as const) {
        // Neither the directors' routes nor the owner's export table need have heard of the new
        // path yet (its notification is on its way): both load theirs again for a MNT of it.
        const newPath = `/now-${i}-${d}`;
        await c.api('POST', '/exports', { filesystemId: ids.get(row.fsid), path: newPath, clients: ['127.0.0.0/8'], access: 'rw', rootSquash: false, secure: false });
        const client = await Nfs3Client.mount('127.0.0.1', port, newPath, { timeoutMs: 10_000 });
        await client.close();
      }
    }
    // A path that is nowhere is still MNT3ERR_NOENT (after the directors' load), not a hang.
    await expect(Nfs3Client.mount('127.0.0.1', portB, '/never-exported', { timeoutMs: 10_000 })).rejects.toThrow(/MNT: nfsstat3 2/);
    expect(second.path).toBe('/second');
  }, 60_000);
});
