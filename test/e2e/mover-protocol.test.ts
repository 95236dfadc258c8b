// Goal: behaviours of the running data mover that real clients depend on but the kernel script
// cannot isolate: portmapper (own and system rpcbind), flush on SIGTERM with a new write
// verifier, duplicate replies across connections, forged handles, and per-procedure metrics.
// Method: start the built mover process and talk to it with the independent test NFS client.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { getPortFromRpcbind, probeRpcbind } from '@ferry/nfs';
import { AuthFlavor, RpcClient, type Credential } from '@ferry/oncrpc';
import { MoverProcess } from '../support/mover-process';
import { Nfs3Client, NfsStatusError, Stable } from '../support/nfs3-client';
import { freePort } from '../support/ports';

const ROOT: Credential = { flavor: AuthFlavor.AUTH_SYS, sys: { stamp: 1, machinename: 't', uid: 0, gid: 0, gids: [] } };
const NFS3ERR_NOENT = 2;
const NFS3ERR_BADHANDLE = 10001;

describe('data mover process', () => {
  const started: MoverProcess[] = [];
  const start = async (env: Record<string, string> = {}): Promise<MoverProcess> => {
    const m = await MoverProcess.start({ env });
    started.push(m);
    return m;
  };
  afterEach(async () => {
    for (const m of started.splice(0)) await m.stop();
  });

  it('recovers from an interrupted first start, but never overwrites an initialized pool', async () => {
    // A first start killed after creating the device file and before formatting it.
    const dir = mkdtempSync(join(tmpdir(), 'ferry-first-'));
    mkdirSync(join(dir, 'pool'), { recursive: true });
    writeFileSync(join(dir, 'pool', 'dev0.img'), Buffer.alloc(16 << 20));
    const m = await MoverProcess.start({ dataDir: dir });
    started.push(m);
    const c = await Nfs3Client.mount('127.0.0.1', m.nfsPort, '/export');
    await c.create(c.root, 'after-recreate');
    await c.close();
    expect(existsSync(join(dir, 'initialized'))).toBe(true);
    expect(await m.stop()).toBe(0);
    // The same directory, now initialized, with its device damaged: refuse, change nothing.
    const damaged = Buffer.alloc(16 << 20, 0x33);
    writeFileSync(join(dir, 'pool', 'dev0.img'), damaged);
    await expect(MoverProcess.start({ dataDir: dir })).rejects.toThrow(/mover exited during start/);
    expect(readFileSync(join(dir, 'pool', 'dev0.img')).equals(damaged)).toBe(true);
  });

  it('serves its own portmapper when none runs on the port (TCP and UDP)', async () => {
    const pmPort = await freePort();
    const m = await start({ FERRY_PORTMAP_PORT: String(pmPort) });
    for (const transport of ['tcp', 'udp'] as const) {
      expect(await getPortFromRpcbind(100003, 3, 6, { host: '127.0.0.1', port: pmPort, transport, timeoutMs: 2000 })).toBe(m.nfsPort);
      expect(await getPortFromRpcbind(100005, 3, 6, { host: '127.0.0.1', port: pmPort, transport, timeoutMs: 2000 })).toBe(m.nfsPort);
      expect(await getPortFromRpcbind(100003, 2, 6, { host: '127.0.0.1', port: pmPort, transport, timeoutMs: 2000 })).toBe(0);
    }
  });

  it('registers with a system rpcbind on port 111 and unregisters at shutdown', async () => {
    // .ci/run starts rpcbind; without one this test must fail, not skip.
    expect(await probeRpcbind({ host: '127.0.0.1', port: 111, timeoutMs: 1000 }), 'no rpcbind answers on 127.0.0.1:111').toBe(true);
    const m = await start({ FERRY_PORTMAP_PORT: '111' });
    expect(await getPortFromRpcbind(100003, 3, 6, { host: '127.0.0.1', port: 111, timeoutMs: 2000 })).toBe(m.nfsPort);
    expect(await getPortFromRpcbind(100005, 3, 17, { host: '127.0.0.1', port: 111, timeoutMs: 2000 })).toBe(m.nfsPort);
    expect(await m.stop()).toBe(0);
    expect(await getPortFromRpcbind(100003, 3, 6, { host: '127.0.0.1', port: 111, timeoutMs: 2000 })).toBe(0);
  });

  it('flushes UNSTABLE data on SIGTERM and changes the write verifier at restart', async () => {
    const m = await start();
    const c = await Nfs3Client.mount('127.0.0.1', m.nfsPort, '/export');
    const fh = await c.create(c.root, 'unstable.bin');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 0x5a);
    let w = await c.write(fh, 0n, data.subarray(0, 1 << 20), Stable.UNSTABLE);
    for (let off = 1 << 20; off < data.length; off += 1 << 20) {
      w = await c.write(fh, BigInt(off), data.subarray(off, off + (1 << 20)), Stable.UNSTABLE);
      expect(w.committed).toBe(Stable.UNSTABLE);
    }
    await c.close();
    expect(await m.stop()).toBe(0);
    await m.spawn();
    const c2 = await Nfs3Client.mount('127.0.0.1', m.nfsPort, '/export');
    const fh2 = (await c2.lookup(c2.root, 'unstable.bin')).fh;
    expect(fh2.equals(fh)).toBe(true);
    expect((await c2.readAll(fh2)).equals(data)).toBe(true);
    const w2 = await c2.write(fh2, 0n, Buffer.from('x'), Stable.UNSTABLE);
    expect(w2.verf.equals(w.verf)).toBe(false);
    await c2.close();
  });

  it('answers a retransmitted REMOVE from a new connection with the original reply', async () => {
    const m = await start();
    const c = await Nfs3Client.mount('127.0.0.1', m.nfsPort, '/export');
    await c.create(c.root, 'once');
    const xid = 0x1234_5678;
    const remove = async (): Promise<number> => {
      const rpc = await RpcClient.connectTcp('127.0.0.1', m.nfsPort, { xidStart: xid, timeoutMs: 10_000 });
      try {
        const { reader } = await rpc.call(100003, 3, 12, (w) => w.opaque(c.root).string('once'), ROOT);
        return reader.uint();
      } finally {
        await rpc.close();
      }
    };
    expect(await remove()).toBe(0);
    expect(await remove()).toBe(0); // without the cache this would be NFS3ERR_NOENT
    await expect(c.lookup(c.root, 'once')).rejects.toMatchObject({ status: NFS3ERR_NOENT });
    await c.close();
  });

  it('refuses a forged or altered handle with NFS3ERR_BADHANDLE', async () => {
    const m = await start();
    const c = await Nfs3Client.mount('127.0.0.1', m.nfsPort, '/export');
    const forged = Buffer.from(c.root);
    forged[forged.length - 1]! ^= 1;
    await expect(c.getattr(forged)).rejects.toBeInstanceOf(NfsStatusError);
    await expect(c.getattr(forged)).rejects.toMatchObject({ status: NFS3ERR_BADHANDLE });
    const tweaked = Buffer.from(c.root);
    tweaked[15]! ^= 0x40; // inside the inode number
    await expect(c.getattr(tweaked)).rejects.toMatchObject({ status: NFS3ERR_BADHANDLE });
    await c.close();
  });

  it('exports per-procedure counts, latency histograms, byte counters and reads ahead', async () => {
    const m = await start();
    const c = await Nfs3Client.mount('127.0.0.1', m.nfsPort, '/export');
    const fh = await c.create(c.root, 'm.bin');
    await c.write(fh, 0n, Buffer.alloc(10_000, 1), Stable.FILE_SYNC);
    await c.read(fh, 0n, 10_000);
    // A sequential reader: each READ reads the next 4 KiB ahead, and the second READ is served
    // from the chunk the first read ahead.
    await c.read(fh, 0n, 4096);
    await c.read(fh, 4096n, 4096);
    await c.close();
    const text = await (await fetch(`http://127.0.0.1:${m.httpPort}/metrics`)).text();
    expect(text).toMatch(/ferry_rpc_calls_total\{program="NFS",procedure="WRITE",result="ok"\} 1/i);
    expect(text).toMatch(/ferry_rpc_duration_seconds_count\{program="NFS",procedure="READ"\} 3/i);
    expect(text).toMatch(/ferry_nfs_written_bytes_total 10000/);
    expect(text).toMatch(/ferry_nfs_read_bytes_total 18192/);
    expect(text).toMatch(/ferry_fs_readahead_chunks_total\{outcome="started"\} 2\n/);
    expect(text).toMatch(/ferry_fs_readahead_chunks_total\{outcome="used"\} 1\n/);
    const health = await fetch(`http://127.0.0.1:${m.httpPort}/healthz`);
    expect(health.status).toBe(200);
  });
});
