// Goal: the RPC server answers every call or reject correctly over real TCP and UDP sockets,
// keeps a flooding client from growing its memory, and shuts down without losing replies.
// Method: a test program with gated, failing and large procedures is served on loopback at an
// ephemeral port; RpcClient and raw sockets (for malformed input) talk to it.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import { RpcAcceptedError, RpcClient, RpcDeniedError } from './client';
import { AcceptStat, AuthStat, RejectStat } from './constants';
import { decodeReplyHeader, encodeCallHeader, CRED_NONE } from './message';
import { AuthFlavor, AuthRejectError, GarbageArgsError, NoReplyError, type Credential, type ProcedureHandler, type RpcCall } from './program';
import { RecordReader } from './record-reader';
import { frameRecord } from './record-writer';
import type { RpcReplyWriter } from './reply-writer';
import { clientAddressOf, RpcServer, type RpcServerOptions } from './server';

const PROG = 400_000;
const BIG_REPLY_BYTES = 64 * 1024;

/** A promise the test settles by hand, so ordering never depends on timing. */
class Gate {
  readonly promise: Promise<void>;
  open!: () => void;
  constructor() {
    this.promise = new Promise((r) => (this.open = r));
  }
}

interface Fixture {
  server: RpcServer;
  port: number;
  gates: Map<number, Gate>;
  calls: RpcCall[];
  errors: unknown[];
  done: Array<{ prog: string; proc: string; ok: boolean }>;
  queuedAtBigCall: number[];
  released: Array<{ fill: number; intact: boolean }>;
}

const servers: RpcServer[] = [];
afterEach(async () => {
  for (const gate of gatesToOpen) gate.open();
  gatesToOpen.length = 0;
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
const gatesToOpen: Gate[] = [];

async function start(opts: Partial<RpcServerOptions> = {}): Promise<Fixture> {
  const f = { gates: new Map(), calls: [], errors: [], done: [], queuedAtBigCall: [], released: [] } as unknown as Fixture;
  const gate = (id: number): Gate => {
    let g = f.gates.get(id);
    if (!g) {
      g = new Gate();
      f.gates.set(id, g);
      gatesToOpen.push(g);
    }
    return g;
  };
  const procedures: Array<ProcedureHandler | undefined> = [
    /* 0 NULL */ (call) => void f.calls.push(call),
    /* 1 gated echo */ async (call, w) => {
      const id = call.args.uint();
      await gate(id).promise;
      w.uint(id);
    },
    /* 2 reads past the end */ (call, w) => {
      w.uint(0xdead);
      call.args.uint();
    },
    /* 3 */ () => {
      throw new GarbageArgsError('no');
    },
    /* 4 */ () => {
      throw new AuthRejectError(AuthStat.AUTH_TOOWEAK, 'weak');
    },
    /* 5 */ () => {
      throw new Error('bug');
    },
    /* 6 big reply */ (_call, w) => {
      f.queuedAtBigCall.push(f.server.connectionStats()[0]?.queuedReplyBytes ?? 0);
      w.allocOpaque(BIG_REPLY_BYTES).fill(7);
    },
    /* 7 silent */ () => {
      throw new NoReplyError('silent');
    },
    /* 8 spliced reply: a buffer lent by the handler, given back by `release` once sent */ (call, w) => {
      const fill = call.args.uint();
      const data = Buffer.alloc(BIG_REPLY_BYTES, fill);
      (w as RpcReplyWriter).opaqueSpliced(data, () => {
        f.released.push({ fill, intact: data.every((b) => b === fill) });
        data.fill(0xee); // what reuse would do: any reply still to be sent would carry it
      });
    },
  ];
  f.server = new RpcServer({
    programs: [
      {
        prog: PROG,
        name: 'test',
        versions: [
          { vers: 1, procedures },
          { vers: 3, procedures },
        ],
        procedureNames: ['null', 'gated'],
      },
    ],
    observer: {
      onError: (_call, err) => void f.errors.push(err),
      onCallDone: (_call, prog, proc, _ns, ok) => void f.done.push({ prog, proc, ok }),
    },
    ...opts,
  });
  servers.push(f.server);
  f.port = (await f.server.listenTcp(0, '127.0.0.1')).port;
  return f;
}

function callBytes(xid: number, proc: number, args: (w: XdrWriter) => void = () => {}, vers = 1): Buffer {
  const w = new XdrWriter(64);
  encodeCallHeader(w, { xid, prog: PROG, vers, proc, cred: CRED_NONE });
  args(w);
  return Buffer.from(w.bytes());
}

/** A raw TCP peer that collects the records it receives. */
class RawPeer {
  readonly socket: net.Socket;
  readonly records: Buffer[] = [];
  readonly closed: Promise<void>;
  private readonly reader = new RecordReader(1 << 24);
  private waiters: Array<() => void> = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let r = this.reader.next(); r; r = this.reader.next()) this.records.push(Buffer.from(r));
      for (const w of this.waiters.splice(0)) w();
    });
    this.socket.on('error', () => {});
    this.closed = new Promise((r) => this.socket.on('close', () => r()));
  }

  async waitRecords(n: number): Promise<Buffer[]> {
    while (this.records.length < n) await new Promise<void>((r) => this.waiters.push(r));
    return this.records;
  }
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 2));
}

const headerOf = (rec: Buffer) => decodeReplyHeader(new XdrReader(rec));

describe('RpcServer over TCP', () => {
  it('answers a call and passes the unwrapped client address to the handler', async () => {
    const f = await start();
    const client = await RpcClient.connectTcp('127.0.0.1', f.port);
    const cred: Credential = { flavor: AuthFlavor.AUTH_SYS, sys: { stamp: 1, machinename: 'm', uid: 5, gid: 6, gids: [7] } };
    const { reader } = await client.call(PROG, 1, 0, undefined, cred);
    expect(reader.remaining).toBe(0);
    expect(f.calls[0]).toMatchObject({ prog: PROG, vers: 1, proc: 0, cred, client: { address: '127.0.0.1', family: 'IPv4', transport: 'tcp' } });
    expect(f.done).toContainEqual({ prog: 'test', proc: 'null', ok: true });
    await client.close();
  });

  it('polls for a bounded time after a call when busyPollUs is set, and never without it', async () => {
    // A controllable clock: polling must stop once the window passes with no call.
    let nowNs = 0n;
    const f = await start({ busyPollUs: 500, clock: { nowNs: () => nowNs } });
    const client = await RpcClient.connectTcp('127.0.0.1', f.port);
    await client.call(PROG, 1, 0);
    expect(f.server.polling).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    expect(f.server.polling).toBe(true); // the clock has not moved: still inside the window
    nowNs += 499_000n;
    await client.call(PROG, 1, 0); // a call inside the window extends it
    nowNs += 499_000n;
    await new Promise((r) => setTimeout(r, 5));
    expect(f.server.polling).toBe(true);
    nowNs += 2_000n;
    await until(() => !f.server.polling);
    await client.close();

    const quiet = await start();
    const c2 = await RpcClient.connectTcp('127.0.0.1', quiet.port);
    await c2.call(PROG, 1, 0);
    expect(quiet.server.polling).toBe(false);
    await c2.close();
    expect(() => new RpcServer({ programs: [], busyPollUs: -1 })).toThrow(RangeError);
  });

  it('sends every accepted-reply error', async () => {
    const f = await start();
    const client = await RpcClient.connectTcp('127.0.0.1', f.port);
    const accepted = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RpcAcceptedError);
      return err as RpcAcceptedError;
    };
    expect((await accepted(client.call(PROG + 1, 1, 0))).stat).toBe(AcceptStat.PROG_UNAVAIL);
    const mismatch = await accepted(client.call(PROG, 2, 0));
    expect(mismatch.stat).toBe(AcceptStat.PROG_MISMATCH);
    expect(mismatch.mismatch).toEqual({ low: 1, high: 3 });
    expect((await accepted(client.call(PROG, 3, 99))).stat).toBe(AcceptStat.PROC_UNAVAIL);
    expect((await accepted(client.call(PROG, 1, 2))).stat).toBe(AcceptStat.GARBAGE_ARGS);
    expect((await accepted(client.call(PROG, 1, 3))).stat).toBe(AcceptStat.GARBAGE_ARGS);
    expect(f.errors).toEqual([]);
    expect((await accepted(client.call(PROG, 1, 5))).stat).toBe(AcceptStat.SYSTEM_ERR);
    expect(f.errors).toHaveLength(1);
    expect(f.done).toContainEqual({ prog: 'test', proc: '5', ok: false });
    const denied = await client.call(PROG, 1, 4).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(RpcDeniedError);
    expect(denied).toMatchObject({ stat: RejectStat.AUTH_ERROR, authStat: AuthStat.AUTH_TOOWEAK });
    await client.close();
  });

  it('discards what a failing handler wrote: GARBAGE_ARGS reply is exactly the header', async () => {
    const f = await start();
    const peer = new RawPeer(f.port);
    peer.socket.write(frameRecord(callBytes(9, 2)));
    const [rec] = await peer.waitRecords(1);
    expect(rec!.toString('hex')).toBe('00000009' + '00000001' + '00000000' + '0000000000000000' + '00000004');
    peer.socket.destroy();
  });

  it('sends RPC_MISMATCH and AUTH_ERROR rejects decided from the header', async () => {
    const f = await start();
    const peer = new RawPeer(f.port);
    const badVersion = Buffer.from('0000000b' + '00000000' + '00000003' + '00061a80', 'hex');
    const gss = Buffer.from('0000000c 00000000 00000002 00061a80 00000001 00000000 00000006 00000000 00000000 00000000'.replace(/ /g, ''), 'hex');
    const longCred = Buffer.from('0000000d 00000000 00000002 00061a80 00000001 00000000 00000001 00000200'.replace(/ /g, ''), 'hex');
    peer.socket.write(Buffer.concat([frameRecord(badVersion), frameRecord(gss), frameRecord(longCred)]));
    const recs = (await peer.waitRecords(3)).map(headerOf);
    expect(recs[0]).toEqual({ xid: 11, kind: 'denied', stat: RejectStat.RPC_MISMATCH, mismatch: { low: 2, high: 2 } });
    expect(recs[1]).toEqual({ xid: 12, kind: 'denied', stat: RejectStat.AUTH_ERROR, authStat: AuthStat.AUTH_REJECTEDCRED });
    expect(recs[2]).toEqual({ xid: 13, kind: 'denied', stat: RejectStat.AUTH_ERROR, authStat: AuthStat.AUTH_BADCRED });
    peer.socket.destroy();
  });

  it('answers many calls in flight on one connection in completion order', async () => {
    const f = await start();
    const client = await RpcClient.connectTcp('127.0.0.1', f.port);
    const order: number[] = [];
    const ids = Array.from({ length: 20 }, (_, i) => i);
    const results = ids.map((id) =>
      client.call(PROG, 1, 1, (w) => w.uint(id)).then(({ reader }) => {
        order.push(reader.uint());
      }),
    );
    await until(() => f.gates.size === 20);
    for (const id of [...ids].reverse()) {
      f.gates.get(id)!.open();
      await until(() => order.length === 20 - id);
    }
    await Promise.all(results);
    expect(order).toEqual([...ids].reverse());
    await client.close();
  });

  it('reassembles a call sent in several fragments', async () => {
    const f = await start();
    const peer = new RawPeer(f.port);
    const call = callBytes(21, 0);
    const a = call.subarray(0, 10);
    const b = call.subarray(10, 30);
    const c = call.subarray(30);
    const frag = (p: Buffer, last: boolean) => {
      const m = Buffer.alloc(4);
      m.writeUInt32BE(((last ? 0x8000_0000 : 0) | p.length) >>> 0);
      return Buffer.concat([m, p]);
    };
    peer.socket.write(Buffer.concat([frag(a, false), frag(b, false), frag(c, true)]));
    const [rec] = await peer.waitRecords(1);
    expect(headerOf(rec!)).toMatchObject({ xid: 21, kind: 'accepted', stat: AcceptStat.SUCCESS });
    peer.socket.destroy();
  });

  it('pauses a client that floods calls without reading replies, so queued reply bytes stay bounded', async () => {
    const maxQueued = 16 * 1024;
    const maxInFlight = 4;
    const f = await start({ maxInFlightPerConnection: maxInFlight, maxQueuedReplyBytesPerConnection: maxQueued });
    const peer = new RawPeer(f.port);
    peer.socket.pause(); // never read: the kernel buffers fill and the server's writes stall
    const total = 2000;
    const calls: Buffer[] = [];
    for (let i = 0; i < total; i++) calls.push(frameRecord(callBytes(i, 6)));
    peer.socket.write(Buffer.concat(calls));
    await until(() => {
      const s = f.server.connectionStats()[0];
      return s !== undefined && s.paused && s.queuedReplyBytes > maxQueued;
    });
    const stats = f.server.connectionStats()[0]!;
    const replyBytes = BIG_REPLY_BYTES + 32;
    expect(stats.callsStarted).toBeLessThan(total);
    expect(stats.queuedReplyBytes).toBeLessThanOrEqual(maxQueued + maxInFlight * replyBytes);
    expect(Math.max(...f.queuedAtBigCall)).toBeLessThanOrEqual(maxQueued + maxInFlight * replyBytes);
    // Once the client reads, the server resumes and every call is answered.
    peer.socket.resume();
    const recs = await peer.waitRecords(total);
    expect(new Set(recs.map((r) => r.readUInt32BE(0))).size).toBe(total);
    peer.socket.destroy();
  });

  it('gives a spliced buffer back only once the kernel has its bytes, even from a client that stalls', async () => {
    const f = await start({ maxQueuedReplyBytesPerConnection: 256 * 1024 });
    const peer = new RawPeer(f.port);
    peer.socket.pause(); // not read for now: replies queue in the kernel, then in the server
    const total = 300;
    const calls: Buffer[] = [];
    for (let i = 0; i < total; i++) calls.push(frameRecord(callBytes(i, 8, (w) => w.uint(i % 200))));
    peer.socket.write(Buffer.concat(calls));
    await until(() => f.server.connectionStats()[0]?.paused === true);
    expect(f.released.length).toBeLessThan(total); // the rest wait for the peer
    peer.socket.resume();
    const recs = await peer.waitRecords(total);
    for (const r of recs) {
      const xid = r.readUInt32BE(0);
      const data = r.subarray(r.length - BIG_REPLY_BYTES);
      expect(data.every((b) => b === xid % 200), `reply ${xid} carries its own bytes`).toBe(true);
    }
    await until(() => f.released.length === total);
    expect(f.released.every((x) => x.intact)).toBe(true);
    peer.socket.destroy();
  });

  it('stops reading once maxInFlight calls run on a connection', async () => {
    const f = await start({ maxInFlightPerConnection: 3 });
    const peer = new RawPeer(f.port);
    const calls: Buffer[] = [];
    for (let i = 0; i < 10; i++) calls.push(frameRecord(callBytes(i, 1, (w) => w.uint(i))));
    peer.socket.write(Buffer.concat(calls));
    await until(() => f.gates.size === 3);
    await new Promise((r) => setImmediate(r));
    expect(f.server.connectionStats()[0]).toMatchObject({ inFlight: 3, paused: true, callsStarted: 3 });
    for (let i = 0; i < 10; i++) {
      await until(() => f.gates.has(i));
      f.gates.get(i)!.open();
    }
    expect((await peer.waitRecords(10)).map((r) => r.readUInt32BE(0))).toEqual(calls.map((_, i) => i));
    peer.socket.destroy();
  });

  it('closes the connection on a record over the limit', async () => {
    const f = await start({ maxRecordBytes: 1024 });
    const peer = new RawPeer(f.port);
    const mark = Buffer.alloc(4);
    mark.writeUInt32BE((0x8000_0000 | 1025) >>> 0);
    peer.socket.write(mark);
    await peer.closed;
    await until(() => f.server.connectionCount === 0);
  });

  it('drops garbage records and closes the connection after three', async () => {
    const f = await start();
    const peer = new RawPeer(f.port);
    const reply = Buffer.from('00000001 00000001 00000000'.replace(/ /g, ''), 'hex');
    peer.socket.write(Buffer.concat([frameRecord(reply), frameRecord(Buffer.from([1, 2, 3]))]));
    peer.socket.write(frameRecord(callBytes(5, 0)));
    const [rec] = await peer.waitRecords(1); // two garbage records are tolerated, silently
    expect(rec!.readUInt32BE(0)).toBe(5);
    peer.socket.write(frameRecord(Buffer.alloc(0)));
    await peer.closed;
    expect(peer.records).toHaveLength(1);
  });

  it('sends nothing for a handler that throws NoReplyError', async () => {
    const f = await start();
    const peer = new RawPeer(f.port);
    peer.socket.write(Buffer.concat([frameRecord(callBytes(1, 7)), frameRecord(callBytes(2, 0))]));
    const recs = await peer.waitRecords(1);
    expect(recs.map((r) => r.readUInt32BE(0))).toEqual([2]);
    peer.socket.destroy();
  });

  it('answers the calls of a client that half-closes, then ends the connection', async () => {
    const f = await start();
    const peer = new RawPeer(f.port);
    peer.socket.end(Buffer.concat([frameRecord(callBytes(1, 0)), frameRecord(callBytes(2, 1, (w) => w.uint(2)))]));
    await until(() => f.gates.has(2));
    f.gates.get(2)!.open();
    await peer.closed;
    expect(peer.records.map((r) => r.readUInt32BE(0))).toEqual([1, 2]);
  });

  it('close() waits for running calls and flushes their replies', async () => {
    const f = await start();
    const client = await RpcClient.connectTcp('127.0.0.1', f.port);
    const pending = client.call(PROG, 1, 1, (w) => w.uint(42));
    await until(() => f.gates.has(42));
    let closed = false;
    const closing = f.server.close().then(() => (closed = true));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);
    // New connections are refused once closing has begun.
    await expect(RpcClient.connectTcp('127.0.0.1', f.port)).rejects.toThrow();
    f.gates.get(42)!.open();
    expect((await pending).reader.uint()).toBe(42);
    await closing;
    expect(closed).toBe(true);
    expect(f.server.connectionCount).toBe(0);
  });
});

describe('RpcServer over UDP', () => {
  it('answers calls and rejects in single datagrams', async () => {
    const f = await start();
    const { port } = await f.server.listenUdp(0, '127.0.0.1');
    const opts = { timeoutMs: 60_000 };
    const { reader } = await RpcClient.callUdp('127.0.0.1', port, PROG, 1, 0, () => {}, opts);
    expect(reader.remaining).toBe(0);
    expect(f.calls[0]).toMatchObject({ connectionId: 0, client: { address: '127.0.0.1', transport: 'udp' } });
    await expect(RpcClient.callUdp('127.0.0.1', port, PROG + 1, 1, 0, () => {}, opts)).rejects.toMatchObject({
      stat: AcceptStat.PROG_UNAVAIL,
    });
    await expect(RpcClient.callUdp('127.0.0.1', port, PROG, 7, 0, () => {}, opts)).rejects.toMatchObject({
      stat: AcceptStat.PROG_MISMATCH,
      mismatch: { low: 1, high: 3 },
    });
  });

  it('close() waits for a running UDP call and sends its reply', async () => {
    const f = await start();
    const { port } = await f.server.listenUdp(0, '127.0.0.1');
    const pending = RpcClient.callUdp('127.0.0.1', port, PROG, 1, 1, (w) => w.uint(8), { timeoutMs: 60_000, retransmitMs: 60_000 });
    await until(() => f.gates.has(8));
    const closing = f.server.close();
    f.gates.get(8)!.open();
    expect((await pending).reader.uint()).toBe(8);
    await closing;
  });
});

describe('clientAddressOf', () => {
  it('unwraps IPv4-mapped IPv6 addresses and keeps real IPv6 ones', () => {
    expect(clientAddressOf('::ffff:127.0.0.1', 1, 'tcp')).toEqual({ address: '127.0.0.1', port: 1, family: 'IPv4', transport: 'tcp' });
    expect(clientAddressOf('::1', 2, 'udp')).toEqual({ address: '::1', port: 2, family: 'IPv6', transport: 'udp' });
    expect(clientAddressOf('10.0.0.1', 3, 'tcp').family).toBe('IPv4');
  });
});

