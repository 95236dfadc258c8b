/**
 * ONC RPC server over TCP (RFC 5531 §11 record marking) and UDP.
 *
 * Invariants, per TCP connection:
 * - At most `maxInFlightPerConnection` calls run at once, and reading stops (socket.pause())
 *   while that many run or while more than `maxQueuedReplyBytesPerConnection` reply bytes wait
 *   for the kernel; so a peer that floods calls, or never reads its replies, holds at most
 *   those calls, those bytes, one unparsed chunk and one partial record of server memory.
 * - Replies go out as each call completes, in any order (RFC 5531 §3: the xid matches them).
 * - A record over `maxRecordBytes` or `maxGarbageRecordsPerConnection` undecodable messages
 *   close the connection: the peer is not speaking RPC to us, and the stream cannot be resynced.
 * - PROXY v2 (proxy-v2.ts): a connection from a peer in `trustedProxyNetworks` may start with
 *   one header; its source is then the client of every call on the connection (export rules
 *   see the real client behind a load director). A trusted peer without a header is the client
 *   itself. A connection from any other peer that starts with the signature is closed at once
 *   (logged once per peer address): honouring it would let anyone claim any address.
 *   Until the first bytes decide, at most the header cap is held; after that the check costs
 *   nothing per chunk.
 * - Once `close()` starts, no new record is dispatched; calls already running finish, their
 *   replies are flushed, and only then is the socket ended. Complete records not yet
 *   dispatched are dropped unanswered: the client retransmits them to the next server.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { XdrWriter } from '@ferry/xdr';
import { AcceptStat, DEFAULT_MAX_RECORD_BYTES, MAX_UDP_PAYLOAD_BYTES } from './constants';
import { HRTIME_CLOCK, NOOP_LOGGER, RpcDispatcher, type Clock, type DispatchResult, type RpcLogger } from './dispatcher';
import { CredentialCache, encodeAcceptedReply } from './message';
import type { ClientAddress, RpcObserver, RpcProgram } from './program';
import { DEFAULT_MAX_PROXY_HEADER_BYTES, NetworkList, ProxyCommand, ProxyPreamble } from './proxy-v2';
import { RecordReader } from './record-reader';
import type { ReplyPieces } from './reply-writer';

export interface RpcServerOptions {
  programs: RpcProgram[];
  maxRecordBytes?: number;
  /** Calls running at once on one TCP connection before reading pauses (default 64). */
  maxInFlightPerConnection?: number;
  /** Reply bytes waiting for the kernel on one connection before reading pauses (default 4 MiB). */
  maxQueuedReplyBytesPerConnection?: number;
  /** Undecodable messages tolerated on one TCP connection before it is closed (default 3). */
  maxGarbageRecordsPerConnection?: number;
  /** Calls running at once on one UDP socket; datagrams beyond it are dropped (default 256). */
  maxInFlightUdp?: number;
  /** How long close() waits for replies to flush before destroying sockets (default 30 s). */
  closeGraceMs?: number;
  /**
   * After a call completes, keep polling the sockets (never sleeping in epoll) for this long
   * (default 0: off). A client with one call in flight sends its next call a few tens of µs
   * after our reply; a thread that slept meanwhile pays a wake-up from idle, which on a VM
   * costs more than the call itself. Polling spends up to this much CPU per idle gap and stops
   * as soon as no call completes within the window.
   */
  busyPollUs?: number;
  /**
   * Networks (CIDRs or addresses, IPv4 and IPv6) whose TCP connections may start with a PROXY
   * protocol v2 header naming the client they relay for (default: none).
   */
  trustedProxyNetworks?: readonly string[];
  observer?: RpcObserver;
  logger?: RpcLogger;
  clock?: Clock;
}

export interface ConnectionStats {
  connectionId: number;
  client: ClientAddress;
  /** The socket's peer (differs from client behind a trusted PROXY v2 header). */
  peer: ClientAddress;
  inFlight: number;
  queuedReplyBytes: number;
  paused: boolean;
  callsStarted: number;
  garbageRecords: number;
}

/** RFC 5531 §11: an unwrapped peer address for export rules and logs. */
export function clientAddressOf(address: string, port: number, transport: 'tcp' | 'udp'): ClientAddress {
  // Dual-stack sockets report IPv4 peers as '::ffff:a.b.c.d'; export rules are written in IPv4.
  if (address.startsWith('::ffff:') && net.isIPv4(address.slice(7))) {
    return { address: address.slice(7), port, family: 'IPv4', transport };
  }
  return { address, port, family: net.isIPv6(address) ? 'IPv6' : 'IPv4', transport };
}

class TcpConnection {
  readonly reader: RecordReader;
  /** Until the first bytes say whether a PROXY header comes; undefined once decided. */
  preamble: ProxyPreamble | undefined;
  /** The socket's peer; `client` becomes the PROXY source when a trusted peer sends one. */
  client: ClientAddress;
  readonly creds = new CredentialCache();
  inFlight = 0;
  queuedReplyBytes = 0;
  paused = false;
  corked = false;
  readEnded = false;
  ending = false;
  closed = false;
  callsStarted = 0;
  garbageRecords = 0;
  readonly done: Promise<void>;
  markDone!: () => void;

  constructor(
    readonly id: number,
    readonly socket: net.Socket,
    readonly peer: ClientAddress,
    readonly peerTrusted: boolean,
    maxRecordBytes: number,
  ) {
    this.client = peer;
    this.preamble = new ProxyPreamble(DEFAULT_MAX_PROXY_HEADER_BYTES);
    this.reader = new RecordReader(maxRecordBytes);
    this.done = new Promise((resolve) => (this.markDone = resolve));
  }
}

interface UdpListener {
  socket: dgram.Socket;
  inFlight: number;
  closed: boolean;
  creds: CredentialCache;
}

export class RpcServer {
  private readonly dispatcher: RpcDispatcher;
  private readonly logger: RpcLogger;
  private readonly maxRecordBytes: number;
  private readonly maxInFlight: number;
  private readonly maxQueuedReplyBytes: number;
  private readonly maxGarbage: number;
  private readonly maxInFlightUdp: number;
  private readonly closeGraceMs: number;
  private readonly tcpServers: net.Server[] = [];
  private readonly udpListeners: UdpListener[] = [];
  private readonly connections = new Map<number, TcpConnection>();
  private nextConnectionId = 1;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private udpIdle: (() => void) | undefined;
  private readonly clock: Clock;
  private readonly trustedProxies: NetworkList;
  /** Untrusted peers already logged for a PROXY header (bounded: cleared when full). */
  private readonly refusedProxyPeers = new Set<string>();
  private readonly busyPollNs: bigint;
  private pollUntilNs = 0n;
  private pollingNow = false;
  private readonly pollTick = (): void => {
    if (!this.closing && this.clock.nowNs() < this.pollUntilNs) setImmediate(this.pollTick);
    else this.pollingNow = false;
  };

  constructor(opts: RpcServerOptions) {
    this.logger = opts.logger ?? NOOP_LOGGER;
    this.clock = opts.clock ?? HRTIME_CLOCK;
    this.dispatcher = new RpcDispatcher(opts.programs, opts.observer, this.logger, this.clock);
    const busyPollUs = opts.busyPollUs ?? 0;
    if (!(Number.isSafeInteger(busyPollUs) && busyPollUs >= 0 && busyPollUs <= 10_000)) throw new RangeError('busyPollUs must be an integer from 0 to 10000');
    this.busyPollNs = BigInt(busyPollUs) * 1000n;
    this.trustedProxies = new NetworkList(opts.trustedProxyNetworks ?? []);
    this.maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.maxInFlight = opts.maxInFlightPerConnection ?? 64;
    this.maxQueuedReplyBytes = opts.maxQueuedReplyBytesPerConnection ?? 4 * 1024 * 1024;
    this.maxGarbage = opts.maxGarbageRecordsPerConnection ?? 3;
    this.maxInFlightUdp = opts.maxInFlightUdp ?? 256;
    this.closeGraceMs = opts.closeGraceMs ?? 30_000;
    if (!(this.maxInFlight >= 1)) throw new RangeError('maxInFlightPerConnection must be at least 1');
  }

  /** Whether the server is polling after a recent call (busyPollUs), for tests and stats. */
  get polling(): boolean {
    return this.pollingNow;
  }

  /** Extends the polling window from now; starts polling when it is not running. */
  private pollAfterCall(): void {
    if (this.busyPollNs === 0n || this.closing) return;
    this.pollUntilNs = this.clock.nowNs() + this.busyPollNs;
    if (this.pollingNow) return;
    this.pollingNow = true;
    setImmediate(this.pollTick);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  connectionStats(): ConnectionStats[] {
    return [...this.connections.values()].map((c) => ({
      connectionId: c.id,
      client: c.client,
      peer: c.peer,
      inFlight: c.inFlight,
      queuedReplyBytes: c.queuedReplyBytes,
      paused: c.paused,
      callsStarted: c.callsStarted,
      garbageRecords: c.garbageRecords,
    }));
  }

  listenTcp(port: number, host: string): Promise<{ port: number }> {
    if (this.closing) return Promise.reject(new Error('server is closing'));
    // allowHalfOpen: a client that sends its calls and then shuts down its side still gets
    // every reply; we end our side once its calls are answered.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.tcpServers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.logger.error({ err }, 'rpc tcp listener error'));
        resolve({ port: (server.address() as net.AddressInfo).port });
      });
    });
  }

  listenUdp(port: number, host: string): Promise<{ port: number }> {
    if (this.closing) return Promise.reject(new Error('server is closing'));
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const listener: UdpListener = { socket, inFlight: 0, closed: false, creds: new CredentialCache() };
    this.udpListeners.push(listener);
    socket.on('message', (msg, rinfo) => this.onDatagram(listener, msg, rinfo));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.logger.error({ err }, 'rpc udp socket error'));
        resolve({ port: socket.address().port });
      });
    });
  }

  /** Stop accepting, let running calls finish and their replies flush, then close everything. */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    const listenersClosed = this.tcpServers.map(
      (s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())),
    );
    for (const conn of this.connections.values()) this.pump(conn);
    const grace = setTimeout(() => {
      for (const conn of this.connections.values()) {
        this.logger.warn({ connectionId: conn.id, client: conn.client }, 'rpc close: replies not flushed in time, destroying');
        conn.socket.destroy();
      }
    }, this.closeGraceMs);
    grace.unref();
    try {
      await Promise.all([...this.connections.values()].map((c) => c.done));
      await Promise.all(listenersClosed);
      await new Promise<void>((resolve) => {
        this.udpIdle = resolve;
        this.checkUdpIdle();
      });
    } finally {
      clearTimeout(grace);
    }
  }

  private accept(socket: net.Socket): void {
    const address = socket.remoteAddress;
    const port = socket.remotePort;
    if (this.closing || address === undefined || port === undefined) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    const peer = clientAddressOf(address, port, 'tcp');
    const conn = new TcpConnection(this.nextConnectionId++, socket, peer, this.trustedProxies.contains(peer.address), this.maxRecordBytes);
    this.connections.set(conn.id, conn);
    socket.on('data', (chunk: Buffer) => {
      if (conn.preamble !== undefined) {
        const rest = this.readPreamble(conn, chunk);
        if (rest === undefined) return;
        chunk = rest;
      }
      conn.reader.push(chunk);
      this.pump(conn);
    });
    socket.on('end', () => {
      conn.readEnded = true;
      this.pump(conn);
    });
    socket.on('error', (err) => this.logger.info({ err, connectionId: conn.id, client: conn.client }, 'rpc connection error'));
    socket.on('close', () => {
      conn.closed = true;
      this.connections.delete(conn.id);
      conn.markDone();
    });
  }

  /**
   * The first bytes of a connection: a PROXY v2 header from a trusted peer sets the client;
   * from anyone else it closes the connection. Answers the bytes that follow, or undefined
   * while undecided (or closed).
   */
  private readPreamble(conn: TcpConnection, chunk: Buffer): Buffer | undefined {
    const r = conn.preamble!.push(chunk);
    if (r.kind === 'incomplete') return undefined;
    conn.preamble = undefined;
    if (r.kind === 'none') return r.rest;
    if (!conn.peerTrusted) {
      const key = conn.peer.address;
      if (!this.refusedProxyPeers.has(key)) {
        if (this.refusedProxyPeers.size >= 1024) this.refusedProxyPeers.clear();
        this.refusedProxyPeers.add(key);
        this.logger.warn({ connectionId: conn.id, peer: conn.peer }, 'rpc: PROXY header from a peer outside the trusted networks: closing (logged once per peer)');
      }
      conn.socket.destroy();
      return undefined;
    }
    if (r.kind === 'error') {
      this.logger.warn({ connectionId: conn.id, peer: conn.peer, reason: r.reason }, 'rpc: bad PROXY header from a trusted peer: closing');
      conn.socket.destroy();
      return undefined;
    }
    if (r.header.command === ProxyCommand.PROXY) conn.client = clientAddressOf(r.header.sourceAddress, r.header.sourcePort, 'tcp');
    return r.rest;
  }

  /**
   * Dispatch every complete record the connection may take now, then pause or resume reading.
   * Called on data, on end, when a call completes and when reply bytes reach the kernel.
   */
  private pump(conn: TcpConnection): void {
    for (;;) {
      if (conn.closed || conn.ending) return;
      if (this.closing) {
        this.setPaused(conn, true);
        if (conn.inFlight === 0) this.endConnection(conn);
        return;
      }
      if (conn.inFlight >= this.maxInFlight || conn.queuedReplyBytes > this.maxQueuedReplyBytes) {
        this.setPaused(conn, true);
        return;
      }
      let record: Buffer | undefined;
      try {
        record = conn.reader.next();
      } catch (err) {
        this.logger.warn({ err, connectionId: conn.id, client: conn.client }, 'rpc record too large: closing connection');
        conn.socket.destroy();
        return;
      }
      if (record === undefined) {
        if (conn.readEnded) {
          if (conn.inFlight === 0) this.endConnection(conn);
        } else {
          this.setPaused(conn, false);
        }
        return;
      }
      conn.inFlight++;
      conn.callsStarted++;
      this.dispatcher.dispatch(record, conn.client, conn.id, true, conn.creds).then(
        (result) => this.callFinished(conn, result),
        (err: unknown) => {
          // dispatch() turns handler failures into replies; reaching here is a bug of ours.
          this.logger.error({ err, connectionId: conn.id }, 'rpc dispatch failed');
          this.callFinished(conn, 'silent');
        },
      );
    }
  }

  private callFinished(conn: TcpConnection, result: DispatchResult): void {
    conn.inFlight--;
    if (conn.closed) return;
    if (result === 'garbage') {
      conn.garbageRecords++;
      if (conn.garbageRecords >= this.maxGarbage) {
        this.logger.warn({ connectionId: conn.id, client: conn.client }, 'rpc: too many undecodable messages, closing connection');
        conn.socket.destroy();
        return;
      }
    } else if (result !== 'silent') {
      this.send(conn, result);
    }
    this.pump(conn);
    this.pollAfterCall();
  }

  private send(conn: TcpConnection, reply: Buffer | Buffer[]): void {
    if (conn.socket.destroyed || !conn.socket.writable) return;
    let bytes = 0;
    if (Array.isArray(reply)) for (const piece of reply) bytes += piece.length;
    else bytes = reply.length;
    conn.queuedReplyBytes += bytes;
    // Replies finished in the same turn of the event loop leave in one writev: with
    // TCP_NODELAY each separate write would otherwise cost a syscall and a segment. The only
    // reply of a connection with nothing else running (one call in flight, the common case of
    // metadata work) has nothing to wait for, so it goes out at once, without the cork's
    // buffering and its tick.
    if (!conn.corked && (conn.inFlight > 0 || Array.isArray(reply))) {
      conn.corked = true;
      conn.socket.cork();
      process.nextTick(() => {
        conn.corked = false;
        conn.socket.uncork();
      });
    }
    // The write callback fires when the kernel has taken the bytes: only then are they no
    // longer ours to account for (a peer that does not read keeps them here).
    const written = (err?: Error | null): void => {
      conn.queuedReplyBytes -= bytes;
      // Taken by the kernel: the spliced buffers (READ data) may be used again. Not after an
      // error, when libuv may not be done with them: they are left to the collector.
      if (!err && Array.isArray(reply)) (reply as ReplyPieces).sent?.();
      if (conn.paused || this.closing) this.pump(conn);
    };
    if (!Array.isArray(reply)) {
      conn.socket.write(reply, written);
      return;
    }
    // A spliced reply (header, READ data, tail) goes out as its pieces, which the cork above
    // turns into one writev: the data is never copied into the reply. Stream writes complete
    // in order, so the last piece's callback means the whole reply has been taken.
    const last = reply.length - 1;
    for (let i = 0; i < last; i++) conn.socket.write(reply[i]!);
    conn.socket.write(reply[last]!, written);
  }

  private setPaused(conn: TcpConnection, paused: boolean): void {
    if (conn.paused === paused) return;
    conn.paused = paused;
    if (paused) conn.socket.pause();
    else conn.socket.resume();
  }

  private endConnection(conn: TcpConnection): void {
    conn.ending = true;
    conn.socket.end();
  }

  private onDatagram(listener: UdpListener, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    // UDP has no flow control: past the limit we drop and let the client retransmit.
    if (this.closing || listener.inFlight >= this.maxInFlightUdp) return;
    listener.inFlight++;
    const client = clientAddressOf(rinfo.address, rinfo.port, 'udp');
    this.dispatcher.dispatch(msg, client, 0, false, listener.creds).then(
      (result) => this.datagramFinished(listener, result, rinfo),
      (err: unknown) => {
        this.logger.error({ err }, 'rpc dispatch failed');
        this.datagramFinished(listener, 'silent', rinfo);
      },
    );
  }

  private datagramFinished(listener: UdpListener, result: DispatchResult, rinfo: dgram.RemoteInfo): void {
    if (typeof result === 'string' || listener.closed) {
      listener.inFlight--;
      this.checkUdpIdle();
      return;
    }
    // Unframed replies come as one buffer; a list is flattened rather than trusted to fit.
    let reply = Array.isArray(result) ? Buffer.concat(result) : result;
    if (reply.length > MAX_UDP_PAYLOAD_BYTES) {
      // A result that cannot fit one datagram is our failure to answer, not the client's.
      this.logger.error({ bytes: reply.length, client: rinfo.address }, 'rpc udp reply too large: SYSTEM_ERR');
      const w = new XdrWriter(32);
      encodeAcceptedReply(w, reply.readUInt32BE(0), AcceptStat.SYSTEM_ERR);
      reply = w.bytes();
    }
    // The call stays in flight until the datagram is handed to the kernel, so close() cannot
    // shut the socket under a reply it promised to flush.
    listener.socket.send(reply, rinfo.port, rinfo.address, (err) => {
      if (err) this.logger.info({ err, client: rinfo.address }, 'rpc udp send failed');
      listener.inFlight--;
      this.checkUdpIdle();
    });
  }

  private checkUdpIdle(): void {
    if (this.udpIdle === undefined) return;
    if (this.udpListeners.some((l) => l.inFlight > 0)) return;
    for (const l of this.udpListeners) {
      if (!l.closed) {
        l.closed = true;
        l.socket.close();
      }
    }
    const done = this.udpIdle;
    this.udpIdle = undefined;
    done();
  }
}
