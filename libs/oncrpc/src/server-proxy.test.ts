// Goal: the RPC server takes a PROXY v2 header's source as the client only from trusted peers,
// refuses (closes) a header from anyone else, and treats a trusted peer without one as itself.
// Method: a real RpcServer on loopback with a procedure that records each call's client; raw
// TCP sockets send headers (whole and byte by byte) followed by RPC calls.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { XdrWriter } from '@ferry/xdr';
import { CRED_NONE, encodeCallHeader } from './message';
import type { ClientAddress, RpcCall } from './program';
import { encodeProxyV2 } from './proxy-v2';
import { RecordReader } from './record-reader';
import { frameRecord } from './record-writer';
import { RpcServer } from './server';

const PROG = 400_100;

interface Fixture {
  server: RpcServer;
  port: number;
  clients: ClientAddress[];
  warnings: Array<{ obj: unknown; msg: string }>;
}

const servers: RpcServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(trustedProxyNetworks: string[], host = '127.0.0.1'): Promise<Fixture> {
  const f: Fixture = { clients: [], warnings: [] } as unknown as Fixture;
  const record = (obj: unknown, msg?: string): void => void f.warnings.push({ obj, msg: msg ?? '' });
  f.server = new RpcServer({
    programs: [{ prog: PROG, name: 'who', versions: [{ vers: 1, procedures: [(call: RpcCall, w) => { f.clients.push(call.client); w.uint(call.client.port); }] }] }],
    trustedProxyNetworks,
    logger: { warn: record, info: () => {}, error: record, debug: () => {} } as never,
  });
  servers.push(f.server);
  f.port = (await f.server.listenTcp(0, host)).port;
  return f;
}

function call(xid: number): Buffer {
  const w = new XdrWriter(64);
  encodeCallHeader(w, { xid, prog: PROG, vers: 1, proc: 0, cred: CRED_NONE });
  return frameRecord(w.bytes());
}

/** Sends `bytes` (optionally one byte per write) and collects reply records until `n` or close. */
async function exchange(port: number, bytes: Buffer, n: number, opts: { byteByByte?: boolean; localAddress?: string } = {}): Promise<{ replies: Buffer[]; closed: boolean }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
  const reader = new RecordReader(1 << 20);
  const replies: Buffer[] = [];
  return new Promise((resolve, reject) => {
    socket.on('connect', () => {
      void (async () => {
        if (!opts.byteByByte) socket.write(bytes);
        else for (let i = 0; i < bytes.length; i++) {
          socket.write(bytes.subarray(i, i + 1));
          await new Promise((r) => setImmediate(r));
        }
      })();
    });
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let r = reader.next(); r; r = reader.next()) replies.push(Buffer.from(r));
      if (replies.length >= n) {
        socket.destroy();
        resolve({ replies, closed: false });
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve({ replies, closed: true }));
    setTimeout(() => reject(new Error('no answer in 5 s')), 5000).unref();
  });
}

const header = (sourceAddress: string, sourcePort: number): Buffer =>
  encodeProxyV2({ family: net.isIPv4(sourceAddress) ? 'IPv4' : 'IPv6', sourceAddress, sourcePort, destinationAddress: '127.0.0.1', destinationPort: 2049 });

describe('RpcServer with PROXY v2', () => {
  it('takes the header source as the client of every call from a trusted peer, however it is split', async () => {
    const f = await start(['127.0.0.0/8']);
    const stream = Buffer.concat([header('10.9.8.7', 1234), call(1), call(2)]);
    await exchange(f.port, stream, 2);
    await exchange(f.port, stream, 2, { byteByByte: true });
    expect(f.clients).toHaveLength(4);
    for (const c of f.clients) expect(c).toEqual({ address: '10.9.8.7', port: 1234, family: 'IPv4', transport: 'tcp' });
  });

  it('unwraps an IPv4-mapped source and keeps an IPv6 one', async () => {
    const f = await start(['127.0.0.1']);
    await exchange(f.port, Buffer.concat([header('::ffff:192.0.2.9', 700), call(1)]), 1);
    await exchange(f.port, Buffer.concat([header('2001:db8::42', 701), call(1)]), 1);
    expect(f.clients).toEqual([
      { address: '192.0.2.9', port: 700, family: 'IPv4', transport: 'tcp' },
      { address: '2001:db8::42', port: 701, family: 'IPv6', transport: 'tcp' },
    ]);
  });

  it('a trusted peer without a header, or with LOCAL, is the client itself', async () => {
    const f = await start(['127.0.0.0/8']);
    await exchange(f.port, call(1), 1, { localAddress: '127.0.0.2' });
    await exchange(f.port, Buffer.concat([encodeProxyV2(undefined), call(2)]), 1, { localAddress: '127.0.0.3' });
    expect(f.clients.map((c) => c.address)).toEqual(['127.0.0.2', '127.0.0.3']);
  });

  it('trusts a peer on a dual-stack listener through its IPv4-mapped address', async () => {
    const f = await start(['127.0.0.1/32'], '::');
    await exchange(f.port, Buffer.concat([header('10.1.1.1', 999), call(1)]), 1);
    expect(f.clients.map((c) => c.address)).toEqual(['10.1.1.1']);
  });

  it('closes a connection from an untrusted peer that starts with a header, logging once per peer', async () => {
    const f = await start(['127.0.0.2/32']);
    for (let i = 0; i < 3; i++) {
      const r = await exchange(f.port, Buffer.concat([header('10.9.8.7', 1234), call(1)]), 1, { localAddress: '127.0.0.5' });
      expect(r).toEqual({ replies: [], closed: true });
    }
    // Even a signature prefix in its own packet is enough to decide.
    const cut = await exchange(f.port, Buffer.concat([header('10.9.8.7', 1234), call(1)]), 1, { byteByByte: true, localAddress: '127.0.0.6' });
    expect(cut.closed).toBe(true);
    expect(f.clients).toEqual([]);
    const refusals = f.warnings.filter((w) => /outside the trusted networks/.test(w.msg));
    expect(refusals).toHaveLength(2); // 127.0.0.5 once, 127.0.0.6 once
    // With no trusted networks at all, the same holds; plain RPC from that peer still works.
    const g = await start([]);
    expect((await exchange(g.port, Buffer.concat([header('10.9.8.7', 1234), call(1)]), 1)).closed).toBe(true);
    await exchange(g.port, call(1), 1, { localAddress: '127.0.0.5' });
    expect(g.clients.map((c) => c.address)).toEqual(['127.0.0.5']);
  });

  it('closes a trusted connection whose header is malformed or over the cap', async () => {
    const f = await start(['127.0.0.0/8']);
    const v1 = header('10.0.0.1', 1);
    v1[12] = 0x11;
    expect((await exchange(f.port, Buffer.concat([v1, call(1)]), 1)).closed).toBe(true);
    const long = Buffer.from(header('10.0.0.1', 1).subarray(0, 16));
    long.writeUInt16BE(0xffff, 14);
    expect((await exchange(f.port, long, 1)).closed).toBe(true);
    expect(f.clients).toEqual([]);
  });

  it('refuses malformed trusted networks at construction', () => {
    expect(() => new RpcServer({ programs: [], trustedProxyNetworks: ['10.0.0.0/40'] })).toThrow(/bad prefix/);
  });
});
