// Goal: the relay routes each call to its owner with the client's address in a PROXY header,
// returns replies unchanged, holds and replays calls across a lost or not-ready mover, answers
// JUKEBOX (NFS) or closes (MNT) after the hold, bounds what a client can make it buffer, and
// finishes in-flight calls on close. Method: real sockets on loopback; the movers are RpcServers
// (libs/oncrpc) trusting 127/8 with small NFS/MOUNT programs that report who called them.
import * as net from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import { CRED_NONE, encodeCallHeader, frameRecord, RecordReader, RpcServer, type ProcedureHandler, type RpcCall } from '@ferry/oncrpc';
import { MNT_MISS_LOADS_PER_S } from '@ferry/nfs';
import { Relay, type RelayLogger } from './relay';
import { buildRouteTable, StaticRouteSource, type RouteSource, type RouteTable } from './routes';

function handle(fsid: bigint): Buffer {
  const fh = Buffer.alloc(40);
  fh[0] = 1;
  fh.writeBigUInt64BE(fsid, 4);
  return fh;
}

const QUIET: RelayLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

interface FakeMover {
  server: RpcServer;
  port: number;
  name: string;
  calls: RpcCall[];
  /** Answer NFS3ERR_JUKEBOX to this many NFS calls first. */
  jukebox: number;
  /** While set, NFS calls wait for it. */
  gate?: Promise<void>;
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});

async function startMover(name: string, port = 0): Promise<FakeMover> {
  const m = { name, calls: [], jukebox: 0 } as unknown as FakeMover;
  const nfs: ProcedureHandler[] = [];
  // GETATTR-shaped: status, then who served and whom it saw.
  nfs[1] = async (call, w) => {
    m.calls.push(call);
    if (m.gate) await m.gate;
    if (m.jukebox > 0) {
      m.jukebox--;
      w.uint(10008);
      return;
    }
    w.uint(0).string(m.name).string(call.client.address).uint(call.client.port);
  };
  // WRITE-shaped: echo the size of the arguments.
  nfs[7] = async (call, w) => {
    m.calls.push(call);
    if (m.gate) await m.gate;
    w.uint(0).uint(call.args.remaining);
  };
  const mount: ProcedureHandler[] = [];
  mount[1] = (call, w) => {
    m.calls.push(call);
    w.uint(0).string(m.name).string(call.args.string(1024));
  };
  m.server = new RpcServer({
    programs: [
      { prog: 100003, name: 'nfs', versions: [{ vers: 3, procedures: nfs }] },
      { prog: 100005, name: 'mount', versions: [{ vers: 3, procedures: mount }] },
    ],
    trustedProxyNetworks: ['127.0.0.0/8'],
  });
  m.port = (await m.server.listenTcp(port, '127.0.0.1')).port;
  closers.push(() => m.server.close());
  return m;
}

async function startRelay(routes: RouteSource, opts: { holdMs?: number; maxClientBytes?: number } = {}): Promise<{ relay: Relay; port: number }> {
  const relay = new Relay({ routes, holdMs: opts.holdMs ?? 5000, maxClientBytes: opts.maxClientBytes ?? 8 << 20, maxRecordBytes: Math.min(2 << 20, opts.maxClientBytes ?? 8 << 20), logger: QUIET, closeGraceMs: 5000 });
  const { port } = await relay.listen(0, '127.0.0.1');
  closers.push(() => relay.close());
  return { relay, port };
}

function nfsCall(xid: number, proc: number, fsid: bigint, extra = 0): Buffer {
  const w = new XdrWriter(128 + extra);
  encodeCallHeader(w, { xid, prog: 100003, vers: 3, proc, cred: CRED_NONE });
  w.opaque(handle(fsid));
  if (extra) w.opaque(Buffer.alloc(extra, 0x61));
  return frameRecord(w.bytes());
}

function mntCall(xid: number, path: string): Buffer {
  const w = new XdrWriter(128);
  encodeCallHeader(w, { xid, prog: 100005, vers: 3, proc: 1, cred: CRED_NONE });
  w.string(path);
  return frameRecord(w.bytes());
}

/** A raw client: sends framed calls, collects reply records by xid, notices the close. */
class Client {
  readonly socket: net.Socket;
  readonly replies = new Map<number, Buffer>();
  closed = false;
  private readonly reader = new RecordReader(4 << 20);
  private waiters: Array<() => void> = [];
  readonly ready: Promise<void>;

  constructor(port: number, localAddress = '127.0.0.1') {
    this.socket = net.connect({ port, host: '127.0.0.1', localAddress });
    this.ready = new Promise((r) => this.socket.once('connect', () => r()));
    this.socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let r = this.reader.next(); r; r = this.reader.next()) this.replies.set(r.readUInt32BE(0), Buffer.from(r));
      this.wake();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    closers.push(async () => void this.socket.destroy());
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async reply(xid: number, timeoutMs = 10_000): Promise<XdrReader> {
    const deadline = Date.now() + timeoutMs;
    while (!this.replies.has(xid)) {
      if (this.closed) throw new Error(`connection closed before reply ${xid}`);
      if (Date.now() > deadline) throw new Error(`no reply ${xid}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    const r = new XdrReader(this.replies.get(xid)!);
    r.uint(); // xid
    expect(r.uint()).toBe(1); // REPLY
    expect(r.uint()).toBe(0); // MSG_ACCEPTED
    r.uint(); // verf flavor
    r.skipFixedOpaque(r.uint());
    expect(r.uint()).toBe(0); // SUCCESS
    return r;
  }

  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('not closed');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const served = (r: XdrReader): { status: number; mover: string; client: string; port: number } => {
  const status = r.uint();
  return { status, mover: r.string(100), client: r.string(100), port: r.uint() };
};

describe('Relay', () => {
  it('routes by fsid and export path, with the client address passed in PROXY v2', async () => {
    const a = await startMover('a');
    const b = await startMover('b');
    const { port, relay } = await startRelay(new StaticRouteSource(`1=127.0.0.1:${a.port},2=127.0.0.1:${b.port},export:/one=1,export:/two=2`));
    const c = new Client(port, '127.0.0.2');
    await c.ready;
    c.socket.write(Buffer.concat([nfsCall(1, 1, 1n), nfsCall(2, 1, 2n), mntCall(3, '/two/'), mntCall(4, '/one')]));
    const localPort = c.socket.localPort!;
    expect(served(await c.reply(1))).toEqual({ status: 0, mover: 'a', client: '127.0.0.2', port: localPort });
    expect(served(await c.reply(2))).toEqual({ status: 0, mover: 'b', client: '127.0.0.2', port: localPort });
    const m3 = await c.reply(3);
    expect([m3.uint(), m3.string(9), m3.string(99)]).toEqual([0, 'b', '/two/']);
    const m4 = await c.reply(4);
    expect([m4.uint(), m4.string(9)]).toEqual([0, 'a']);
    // One upstream per (client connection, mover), however many calls.
    expect(relay.clientStats()).toEqual([{ address: '127.0.0.2', port: localPort, pending: 0, heldBytes: 0, paused: false, upstreams: 2 }]);
    expect(relay.stats).toMatchObject({ nfsCalls: 2, mountCalls: 2, upstreamsOpened: 2 });
    // A second client gets its own upstreams (the header names one client).
    const d = new Client(port, '127.0.0.3');
    d.socket.write(nfsCall(9, 1, 1n));
    expect(served(await d.reply(9)).client).toBe('127.0.0.3');
    expect(relay.stats.upstreamsOpened).toBe(3);
  });

  it('answers NULL and header rejects itself, and survives garbage', async () => {
    const a = await startMover('a');
    const { port } = await startRelay(new StaticRouteSource(`1=127.0.0.1:${a.port}`));
    const c = new Client(port);
    const w = new XdrWriter(64);
    encodeCallHeader(w, { xid: 5, prog: 100003, vers: 3, proc: 0, cred: CRED_NONE });
    c.socket.write(Buffer.concat([frameRecord(w.bytes()), frameRecord(Buffer.from('garbage!')), frameRecord(Buffer.alloc(0)), nfsCall(6, 1, 1n)]));
    await c.reply(5);
    expect(served(await c.reply(6)).mover).toBe('a');
    expect(a.calls).toHaveLength(1);
  });

  it('relays many calls in flight, replies in the order the mover answers', async () => {
    const a = await startMover('a');
    let open!: () => void;
    a.gate = new Promise((r) => (open = r));
    const { port } = await startRelay(new StaticRouteSource(`1=127.0.0.1:${a.port}`));
    const c = new Client(port);
    c.socket.write(nfsCall(1, 1, 1n)); // waits at the gate
    while (a.calls.length < 1) await new Promise((r) => setTimeout(r, 5));
    a.gate = undefined;
    c.socket.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => nfsCall(100 + i, 7, 1n, 100))));
    for (let i = 0; i < 20; i++) expect((await c.reply(100 + i)).uint()).toBe(0);
    expect(c.replies.has(1)).toBe(false); // the first call is still running: later replies passed it
    open();
    expect(served(await c.reply(1)).status).toBe(0);
  });

  it('survives arbitrary records on client connections and keeps serving', async () => {
    const a = await startMover('a');
    const { port, relay } = await startRelay(new StaticRouteSource(`1=127.0.0.1:${a.port}`), { holdMs: 100 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 5 }), async (records) => {
        const c = new Client(port);
        await c.ready;
        c.socket.write(Buffer.concat(records.map((r) => frameRecord(Buffer.from(r)))));
        c.socket.write(nfsCall(0xfeed, 1, 1n));
        // Garbage may have claimed xid 0xfeed first (then that call's answer is what returns);
        // either way the connection answers and the relay lives on.
        await c.reply(0xfeed).catch(() => undefined);
        c.socket.destroy();
      }),
      { numRuns: 40 },
    );
    const d = new Client(port);
    d.socket.write(nfsCall(7, 1, 1n));
    expect(served(await d.reply(7)).mover).toBe('a');
    expect(relay.clientCount).toBeGreaterThanOrEqual(1);
  });

  it('holds calls while the owner is down and replays them when it comes back', async () => {
    const a = await startMover('a');
    const port0 = a.port;
    const { port, relay } = await startRelay(new StaticRouteSource(`7=127.0.0.1:${port0}`));
    const c = new Client(port);
    c.socket.write(nfsCall(1, 1, 7n));
    expect(served(await c.reply(1)).mover).toBe('a');
    // The mover stops while a call is in flight on it, and restarts on the same port.
    a.gate = new Promise(() => {});
    c.socket.write(nfsCall(2, 1, 7n));
    while (a.calls.length < 2) await new Promise((r) => setTimeout(r, 10));
    await killServer(a);
    c.socket.write(nfsCall(3, 1, 7n));
    await new Promise((r) => setTimeout(r, 300));
    expect(c.replies.has(2) || c.replies.has(3)).toBe(false);
    expect(relay.stats.heldNow).toBe(2);
    const back = await startMover('a2', port0);
    expect(served(await c.reply(2)).mover).toBe('a2');
    expect(served(await c.reply(3)).mover).toBe('a2');
    expect(back.calls).toHaveLength(2);
    expect(relay.stats.replays).toBeGreaterThan(0);
    expect(relay.stats.heldNow).toBe(0);
  });

  it('replays on JUKEBOX from the mover until it serves, within the hold', async () => {
    const a = await startMover('a');
    a.jukebox = 3;
    const { port, relay } = await startRelay(new StaticRouteSource(`7=127.0.0.1:${a.port}`));
    const c = new Client(port);
    c.socket.write(nfsCall(1, 1, 7n));
    expect(served(await c.reply(1)).status).toBe(0);
    expect(a.calls).toHaveLength(4);
    expect(relay.stats.jukeboxAnswered).toBe(0);
  });

  it('answers JUKEBOX with the resfail body after the hold, and passes a late mover JUKEBOX through', async () => {
    const { port, relay } = await startRelay(new StaticRouteSource('1=127.0.0.1:9'), { holdMs: 300 }); // nothing serves fsid 5
    const c = new Client(port);
    const t0 = Date.now();
    c.socket.write(Buffer.concat([nfsCall(1, 7, 5n), nfsCall(2, 14, 5n)]));
    const w = await c.reply(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect([w.uint(), w.uint(), w.uint(), w.remaining]).toEqual([10008, 0, 0, 0]); // WRITE: wcc_data
    const r = await c.reply(2);
    expect([r.uint(), r.uint(), r.uint(), r.uint(), r.uint(), r.remaining]).toEqual([10008, 0, 0, 0, 0, 0]); // RENAME: two wcc_data
    expect(relay.stats.jukeboxAnswered).toBe(2);

    const a = await startMover('a');
    a.jukebox = 1000;
    const { port: port2 } = await startRelay(new StaticRouteSource(`7=127.0.0.1:${a.port}`), { holdMs: 200 });
    const d = new Client(port2);
    d.socket.write(nfsCall(3, 1, 7n));
    expect((await d.reply(3)).uint()).toBe(10008);
    expect(a.calls.length).toBeGreaterThan(1);
  });

  it('sends a call in flight on a mover that lost its filesystem to the new owner at once', async () => {
    // Mover a stops answering (as a SIGSTOPped process does) with a call in flight; the table
    // moves fsid 7 to b: the call is answered by b without waiting for a, and a's late reply is
    // dropped.
    const a = await startMover('a');
    const b = await startMover('b');
    let table: RouteTable = buildRouteTable([[7n, { host: '127.0.0.1', port: a.port }]], []);
    const listeners: Array<() => void> = [];
    const routes: RouteSource = {
      current: () => table,
      refresh: () => Promise.resolve(),
      onChange: (l) => void listeners.push(l),
      start: () => Promise.resolve(),
      close: () => Promise.resolve(),
      refreshCount: 0,
    };
    const { port, relay } = await startRelay(routes);
    const c = new Client(port);
    let release!: () => void;
    a.gate = new Promise((r) => (release = r));
    c.socket.write(nfsCall(1, 1, 7n));
    while (a.calls.length < 1) await new Promise((r) => setTimeout(r, 10));
    table = buildRouteTable([[7n, { host: '127.0.0.1', port: b.port }]], []);
    for (const l of listeners) l();
    expect(served(await c.reply(1, 3000)).mover).toBe('b');
    expect(relay.stats.rerouted).toBe(1);
    const strays = relay.stats.strayReplies;
    release();
    while (relay.stats.strayReplies === strays) await new Promise((r) => setTimeout(r, 10));
    expect(served(await c.reply(1)).mover).toBe('b'); // still b's answer
  });

  it('sends a MNT of a path it does not know only after a route load that started after it', async () => {
    // An export created a moment ago may not be in the table yet: the MNT waits for one load
    // (which finds it, and the MNT goes to its owner b, not to any mover). A path still unknown
    // after its load goes to any mover, which answers MNT3ERR_NOENT as it would directly.
    const a = await startMover('a');
    const b = await startMover('b');
    let table: RouteTable = buildRouteTable([[7n, { host: '127.0.0.1', port: b.port }]], [], [{ host: '127.0.0.1', port: a.port }]);
    const listeners: Array<() => void> = [];
    const loads: Array<() => void> = [];
    const routes: RouteSource = {
      current: () => table,
      refresh: () => new Promise<void>((r) => loads.push(r)),
      onChange: (l) => void listeners.push(l),
      start: () => Promise.resolve(),
      close: () => Promise.resolve(),
      refreshCount: 0,
    };
    await startRelay(routes).then(async ({ port }) => {
      const c = new Client(port);
      c.socket.write(Buffer.concat([mntCall(1, '/new'), mntCall(2, '/none')]));
      while (loads.length < 2) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 100));
      expect(a.calls.length + b.calls.length).toBe(0); // both wait for their loads
      table = buildRouteTable([[7n, { host: '127.0.0.1', port: b.port }]], [['/new', 7n]], [{ host: '127.0.0.1', port: a.port }]);
      for (const done of loads.splice(0)) done();
      for (const l of listeners) l();
      const r1 = await c.reply(1);
      expect([r1.uint(), r1.string(9), r1.string(99)]).toEqual([0, 'b', '/new']);
      const r2 = await c.reply(2);
      expect([r2.uint(), r2.string(9), r2.string(99)]).toEqual([0, 'b', '/none']); // any mover: the one this client has a connection to
    });
  });

  it('waits for route loads for at most MNT_MISS_LOADS_PER_S unknown paths a second', async () => {
    const a = await startMover('a');
    const table = buildRouteTable([[7n, { host: '127.0.0.1', port: a.port }]], []);
    const reasons: string[] = [];
    const routes: RouteSource = {
      current: () => table,
      refresh: (reason) => {
        reasons.push(reason);
        return Promise.resolve();
      },
      onChange: () => {},
      start: () => Promise.resolve(),
      close: () => Promise.resolve(),
      refreshCount: 0,
    };
    const { port } = await startRelay(routes);
    const c = new Client(port);
    const n = MNT_MISS_LOADS_PER_S + 15;
    c.socket.write(Buffer.concat(Array.from({ length: n }, (_, i) => mntCall(100 + i, `/made-up-${i}`))));
    for (let i = 0; i < n; i++) {
      const r = await c.reply(100 + i);
      expect([r.uint(), r.string(9), r.string(99)]).toEqual([0, 'a', `/made-up-${i}`]);
    }
    expect(reasons.filter((r) => r === 'MNT of an unknown export path')).toHaveLength(MNT_MISS_LOADS_PER_S);
  });

  it('closes the client connection when a MNT finds no owner within the hold', async () => {
    const { port, relay } = await startRelay(new StaticRouteSource('export:/x=3,1=127.0.0.1:9'), { holdMs: 200 });
    const c = new Client(port);
    c.socket.write(mntCall(1, '/x'));
    await c.waitClosed();
    expect(relay.stats.mountGivenUp).toBe(1);
  });

  it('stops reading a client at its byte cap and resumes when replies free it', async () => {
    const a = await startMover('a');
    let open!: () => void;
    a.gate = new Promise((r) => (open = r));
    const cap = 1 << 20;
    const { port, relay } = await startRelay(new StaticRouteSource(`1=127.0.0.1:${a.port}`), { maxClientBytes: cap });
    const c = new Client(port);
    const calls = 64;
    for (let i = 0; i < calls; i++) c.socket.write(nfsCall(100 + i, 7, 1n, 64 * 1024));
    await new Promise((r) => setTimeout(r, 300));
    const [s] = relay.clientStats();
    expect(s!.paused).toBe(true);
    expect(s!.heldBytes).toBeGreaterThanOrEqual(cap);
    expect(s!.heldBytes).toBeLessThan(cap + 70 * 1024); // at most one record past the cap
    expect(a.calls.length).toBeLessThan(calls);
    a.gate = undefined;
    open();
    for (let i = 0; i < calls; i++) expect((await c.reply(100 + i)).uint()).toBe(0);
    expect(relay.clientStats()[0]).toMatchObject({ pending: 0, heldBytes: 0, paused: false });
  });

  it('close() lets in-flight calls finish, then ends the connections', async () => {
    const a = await startMover('a');
    let open!: () => void;
    a.gate = new Promise((r) => (open = r));
    const { port, relay } = await startRelay(new StaticRouteSource(`1=127.0.0.1:${a.port}`));
    const c = new Client(port);
    c.socket.write(nfsCall(1, 1, 1n));
    while (a.calls.length < 1) await new Promise((r) => setTimeout(r, 10));
    let closed = false;
    const closing = relay.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false);
    a.gate = undefined;
    open();
    expect(served(await c.reply(1)).status).toBe(0);
    await closing;
    await c.waitClosed();
    // No new connection is accepted after close.
    await expect(new Promise((resolve, reject) => net.connect(port, '127.0.0.1').on('connect', resolve).on('error', reject))).rejects.toThrow();
  });
});

/** Drops every connection of a fake mover and frees its port at once (a crash, not a stop). */
async function killServer(m: FakeMover): Promise<void> {
  const srv = m.server as unknown as { tcpServers: net.Server[]; connections: Map<number, { socket: net.Socket }> };
  for (const c of srv.connections.values()) c.socket.destroy();
  await Promise.all(srv.tcpServers.map((s) => new Promise((r) => s.close(r))));
}
