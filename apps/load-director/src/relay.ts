/**
 * The director's data path: accepts NFS/MOUNT client connections, routes each call record to
 * the mover that owns its filesystem, relays the reply record back, and holds and replays
 * calls while no owner answers. Plain TypeScript over node:net (no Nest), so it can be tested
 * with real sockets alone.
 *
 * Invariants:
 * - Records are relayed byte for byte; only their record marks are rewritten (every record
 *   goes out as one last fragment). Large records cross as the socket chunks they arrived in
 *   (record-pieces.ts), never copied; a call under MIN_VIEW_BYTES is copied once into its own
 *   framed buffer, so a held small call never keeps a whole socket chunk alive, and a reply
 *   under SMALL_REPLY_BYTES likewise (one write of one buffer, not a writev of the mark and a
 *   view). Replies reach the client in whatever order movers answer
 *   (RFC 5531 §3: the xid matches them).
 * - One upstream connection per (client connection, mover), opened with a PROXY v2 header
 *   naming the client, so a mover's export rules see the client and never the director.
 * - A call is in `pending` of its client connection from its arrival until its reply is
 *   written (or it is given up), and counted in `heldBytes` all that time. Each pending call is
 *   either in flight on exactly one upstream (`upstream` set) or held (`held` true, in the
 *   client's `held` list): never both, never neither.
 * - A held call is retried when routes change and on every tick; it is given up once it has
 *   been held for holdMs in total since it was first held: NFS gets NFS3ERR_JUKEBOX with the
 *   procedure's resfail body, MOUNT as described at giveUp(). A call in flight on a live
 *   upstream is never given up: the mover is working on it.
 * - Memory per client connection: `heldBytes` is kept under maxClientBytes by not reading the
 *   client socket at the cap (one record may cross it; the record reader caps a record at
 *   maxRecordBytes), and replies waiting for a slow client beyond maxClientBytes stop the
 *   reading of its upstream sockets. So a client holds at most about twice the cap, plus one
 *   socket chunk per connection.
 * - A second call with the xid of a pending call on the same connection is dropped: the first
 *   one's reply answers both, and relaying it twice could run a non-idempotent call twice.
 */
import * as net from 'node:net';
import { encodeProxyV2, unmapIPv4, LAST_FRAGMENT_BIT, RECORD_MARK_BYTES } from '@ferry/oncrpc';
import { MissBudget } from '@ferry/nfs';
import { CallInfo, classifyCall, MountProc, nfsReplyStatus, NFS3ERR_JUKEBOX, PROG_NFS, Verdict } from './call-router';
import { acceptedReply, authErrorReply, jukeboxReply, rpcMismatchReply, voidReply } from './local-replies';
import { MIN_VIEW_BYTES, RecordPieces, recordHead } from './record-pieces';
import type { MoverAddress, RouteSource } from './routes';

export interface RelayLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RelayOptions {
  routes: RouteSource;
  /** How long a call may be held (no owner, owner unreachable, owner answers JUKEBOX). */
  holdMs: number;
  maxClientBytes: number;
  maxRecordBytes: number;
  logger: RelayLogger;
  /** Monotonic milliseconds (default: performance.now). */
  nowMs?: () => number;
  /** Period of the retry tick while calls are held (default 20 ms). */
  retryTickMs?: number;
  /** Wait after a JUKEBOX before the call is tried again (default 50 ms). */
  jukeboxRetryMs?: number;
  /** Limit for an upstream TCP connect (default 2 s). */
  connectTimeoutMs?: number;
  /** How long close() lets in-flight calls finish before dropping connections (default 10 s). */
  closeGraceMs?: number;
  /**
   * After relaying a call or a reply, keep the event loop polling (never sleeping in epoll)
   * for this long (default 0: off). Each relayed call costs the director two wake-ups (call
   * in, reply in); on a VM a wake-up from idle costs more than the relaying itself, and a
   * client with one call in flight pays both on every call. Polling spends up to this much
   * CPU per idle gap, and stops as soon as nothing is relayed within the window.
   */
  busyPollUs?: number;
}

/** Plain counters read by the metrics endpoint (no label objects on the relay path). */
export class RelayStats {
  nfsCalls = 0;
  mountCalls = 0;
  localReplies = 0;
  replays = 0;
  /** Calls in flight to a mover that lost their filesystem, sent again to the new owner. */
  rerouted = 0;
  heldCalls = 0;
  jukeboxAnswered = 0;
  mountGivenUp = 0;
  duplicateCalls = 0;
  droppedRecords = 0;
  strayReplies = 0;
  upstreamsOpened = 0;
  upstreamsOpen = 0;
  upstreamFailures = 0;
  clientsAccepted = 0;
  clientsOpen = 0;
  heldNow = 0;
}

class PendingCall {
  upstream: Upstream | undefined = undefined;
  held = false;
  /** When the call was first held (-1: never); the hold limit counts from here. */
  holdSinceMs = -1;
  /** Not retried before this (after a JUKEBOX, so an owner that is not ready is not hammered). */
  retryAtMs = 0;
  /**
   * MNT/UMNT of a path the route table does not know: the number of the route load it waits
   * for (0: none asked yet; -1: none, too many were asked for this second). It goes to any mover
   * (which answers MNT3ERR_NOENT) only once that load, started after the call arrived, has
   * finished without the path.
   */
  pathLoad = 0;

  constructor(
    readonly client: ClientConn,
    readonly xid: number,
    /** The framed record to send: mark and body, as one buffer or as pieces. */
    readonly framed: Buffer[],
    /** Body bytes (what counts against the client's cap). */
    readonly length: number,
    readonly verdict: Verdict,
    readonly prog: number,
    readonly proc: number,
    readonly fsid: bigint,
    readonly path: string,
  ) {}
}

class ClientConn {
  readonly reader: RecordPieces;
  readonly pending = new Map<number, PendingCall>();
  readonly upstreams = new Map<string, Upstream>();
  held: PendingCall[] = [];
  heldBytes = 0;
  paused = false;
  /** Upstream reading stopped because replies wait for this client. */
  repliesPaused = false;
  readEnded = false;
  ending = false;
  closed = false;
  corked = false;
  readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
  readonly done: Promise<void>;
  markDone!: () => void;

  constructor(
    readonly id: number,
    readonly socket: net.Socket,
    readonly address: string,
    readonly port: number,
    /** The PROXY v2 header every upstream of this client starts with. */
    readonly proxyHeader: Buffer,
    maxRecordBytes: number,
  ) {
    this.reader = new RecordPieces(maxRecordBytes);
    this.done = new Promise((resolve) => (this.markDone = resolve));
  }
}

class Upstream {
  readonly reader: RecordPieces;
  connected = false;
  closed = false;
  corked = false;
  replies = 0;
  readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  constructor(
    readonly client: ClientConn,
    readonly mover: MoverAddress,
    readonly socket: net.Socket,
    maxRecordBytes: number,
  ) {
    this.reader = new RecordPieces(maxRecordBytes);
  }
}

interface MoverHealth {
  failures: number;
  downUntilMs: number;
}

const MARKS = new Map<number, Buffer>();

export class Relay {
  readonly stats = new RelayStats();
  private readonly routes: RouteSource;
  private readonly logger: RelayLogger;
  private readonly holdMs: number;
  private readonly maxClientBytes: number;
  private readonly maxRecordBytes: number;
  private readonly nowMs: () => number;
  private readonly retryTickMs: number;
  private readonly jukeboxRetryMs: number;
  private readonly connectTimeoutMs: number;
  private readonly closeGraceMs: number;
  private readonly servers: net.Server[] = [];
  private readonly clients = new Map<number, ClientConn>();
  private readonly clientsWithHeld = new Set<ClientConn>();
  private readonly health = new Map<string, MoverHealth>();
  private readonly info = new CallInfo();
  private ticker: NodeJS.Timeout | undefined;
  private nextClientId = 1;
  private readonly busyPollMs: number;
  private pollUntilMs = 0;
  private polling = false;
  private readonly pollTick = (): void => {
    if (!this.closing && this.nowMs() < this.pollUntilMs) setImmediate(this.pollTick);
    else this.polling = false;
  };
  private lastRefreshAskMs = -Infinity;
  /** Route loads asked for by MNT calls of unknown paths, and the last of them finished. */
  private pathLoadsAsked = 0;
  private pathLoadsDone = 0;
  /** Route loads for unknown paths this second (the rest go to a mover at once). */
  private readonly pathBudget = new MissBudget();
  private closing = false;
  private closePromise: Promise<void> | undefined;

  constructor(opts: RelayOptions) {
    this.routes = opts.routes;
    this.logger = opts.logger;
    this.holdMs = opts.holdMs;
    this.maxClientBytes = opts.maxClientBytes;
    this.maxRecordBytes = opts.maxRecordBytes;
    this.nowMs = opts.nowMs ?? (() => performance.now());
    this.retryTickMs = opts.retryTickMs ?? 20;
    this.jukeboxRetryMs = opts.jukeboxRetryMs ?? 50;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
    this.closeGraceMs = opts.closeGraceMs ?? 10_000;
    this.busyPollMs = (opts.busyPollUs ?? 0) / 1000;
    if (!(this.maxClientBytes >= this.maxRecordBytes)) throw new RangeError('maxClientBytes must hold at least one record');
    this.routes.onChange(() => {
      this.rerouteMoved();
      this.retryHeld();
    });
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Per client connection: calls pending, their bytes, whether reading is paused (tests, logs). */
  clientStats(): Array<{ address: string; port: number; pending: number; heldBytes: number; paused: boolean; upstreams: number }> {
    return [...this.clients.values()].map((c) => ({ address: c.address, port: c.port, pending: c.pending.size, heldBytes: c.heldBytes, paused: c.paused, upstreams: c.upstreams.size }));
  }

  listen(port: number, host: string): Promise<{ port: number }> {
    if (this.closing) return Promise.reject(new Error('relay is closing'));
    // allowHalfOpen: a client that sends its calls and shuts down its side still gets replies.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.logger.error({ err }, 'director listener error'));
        resolve({ port: (server.address() as net.AddressInfo).port });
      });
    });
  }

  /** Stop accepting; let pending calls finish (up to closeGraceMs); then close everything. */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    const listenersClosed = this.servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())));
    for (const c of this.clients.values()) this.pump(c);
    const grace = setTimeout(() => {
      for (const c of this.clients.values()) {
        this.logger.warn({ client: c.address, pending: c.pending.size }, 'director close: calls not finished in time, dropping the connection');
        this.destroyClient(c);
      }
    }, this.closeGraceMs);
    grace.unref();
    try {
      await Promise.all([...this.clients.values()].map((c) => c.done));
      await Promise.all(listenersClosed);
    } finally {
      clearTimeout(grace);
      if (this.ticker) clearInterval(this.ticker);
      this.ticker = undefined;
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
    const source = unmapIPv4(address);
    const destination = unmapIPv4(socket.localAddress ?? '0.0.0.0');
    const header = encodeProxyV2({
      family: net.isIPv4(source) && net.isIPv4(destination) ? 'IPv4' : 'IPv6',
      sourceAddress: source,
      sourcePort: port,
      destinationAddress: destination,
      destinationPort: socket.localPort ?? 0,
    });
    const c = new ClientConn(this.nextClientId++, socket, source, port, header, this.maxRecordBytes);
    this.clients.set(c.id, c);
    this.stats.clientsAccepted++;
    this.stats.clientsOpen++;
    socket.on('data', (chunk: Buffer) => {
      c.reader.push(chunk);
      this.pump(c);
    });
    socket.on('end', () => {
      c.readEnded = true;
      this.pump(c);
    });
    socket.on('drain', () => this.clientDrained(c));
    socket.on('error', (err) => this.logger.debug({ err, client: c.address }, 'client connection error'));
    socket.on('close', () => this.clientClosed(c));
  }

  /** Handle every complete record the client may send now; pause at the byte cap. */
  private pump(c: ClientConn): void {
    for (;;) {
      if (c.closed || c.ending) return;
      if (this.closing) {
        this.setPaused(c, true);
        if (c.pending.size === 0) this.endClient(c);
        return;
      }
      if (c.heldBytes >= this.maxClientBytes) {
        this.setPaused(c, true);
        return;
      }
      let pieces: Buffer[] | undefined;
      try {
        pieces = c.reader.next();
      } catch (err) {
        this.logger.warn({ err, client: c.address }, 'client record too large: closing the connection');
        this.destroyClient(c);
        return;
      }
      if (pieces === undefined) {
        if (c.readEnded) {
          if (c.pending.size === 0) this.endClient(c);
        } else {
          this.setPaused(c, false);
        }
        return;
      }
      this.onClientRecord(c, pieces, c.reader.length);
    }
  }

  private onClientRecord(c: ClientConn, pieces: Buffer[], length: number): void {
    const info = this.info;
    // A small call gets its own framed copy (one allocation, one memcpy); a large one keeps its
    // pieces and is classified from a copy of its first bytes (the header and the handle or
    // path always lie within HEAD_BYTES).
    let framed: Buffer[];
    let head: Buffer;
    if (length < MIN_VIEW_BYTES) {
      const one = Buffer.allocUnsafe(RECORD_MARK_BYTES + length);
      one.writeUInt32BE((LAST_FRAGMENT_BIT | length) >>> 0, 0);
      let at = RECORD_MARK_BYTES;
      for (const p of pieces) at += p.copy(one, at);
      framed = [one];
      head = one.subarray(RECORD_MARK_BYTES);
    } else {
      framed = [markBytes(length), ...pieces];
      head = recordHead(pieces, length, HEAD_BYTES);
    }
    const verdict = classifyCall(head, info);
    switch (verdict) {
      case Verdict.Drop:
        this.stats.droppedRecords++;
        return;
      case Verdict.RpcMismatch:
        return this.replyLocally(c, rpcMismatchReply(info.xid));
      case Verdict.AuthError:
        return this.replyLocally(c, authErrorReply(info.xid, info.authStat));
      case Verdict.Accepted:
        return this.replyLocally(c, acceptedReply(info.xid, info.acceptStat, info.low, info.high));
      case Verdict.Null:
        return this.replyLocally(c, voidReply(info.xid));
      default:
        break;
    }
    if (c.pending.has(info.xid)) {
      this.stats.duplicateCalls++;
      return;
    }
    const call = new PendingCall(c, info.xid, framed, length, verdict, info.prog, info.proc, info.fsid, verdict === Verdict.ExportPath ? info.path : '');
    c.pending.set(call.xid, call);
    c.heldBytes += length;
    if (call.prog === PROG_NFS) this.stats.nfsCalls++;
    else this.stats.mountCalls++;
    this.dispatch(call);
  }

  private replyLocally(c: ClientConn, framed: Buffer): void {
    this.stats.localReplies++;
    if (c.socket.writable) c.socket.write(framed);
  }

  /** Extends the busy-poll window from now (busyPollUs), starting the poll when idle. */
  private pollAfterRelay(): void {
    if (this.busyPollMs === 0 || this.closing) return;
    this.pollUntilMs = this.nowMs() + this.busyPollMs;
    if (this.polling) return;
    this.polling = true;
    setImmediate(this.pollTick);
  }

  /** The mover to send `call` to now, or undefined when it must be held. */
  private routeOf(call: PendingCall, now: number): MoverAddress | undefined {
    const table = this.routes.current();
    let mover: MoverAddress | undefined;
    if (call.verdict === Verdict.Fsid) {
      mover = table.owners.get(call.fsid);
    } else if (call.verdict === Verdict.ExportPath) {
      const fsid = table.exports.get(normalizePath(call.path));
      if (fsid === undefined) {
        // The export may be newer than this table (created a moment ago): wait for one load
        // that starts now. A path still unknown after it goes to any mover, which answers
        // MNT3ERR_NOENT as it would directly.
        if (call.pathLoad === 0) call.pathLoad = this.loadForPath(now);
        if (call.pathLoad > this.pathLoadsDone) return undefined;
        return this.anyMover(call.client, now);
      }
      mover = table.owners.get(fsid);
    } else {
      return this.anyMover(call.client, now);
    }
    if (mover === undefined || this.isDown(mover, now)) return undefined;
    return mover;
  }

  /**
   * Asks for a route load for calls naming an unknown export path and returns its number; the
   * held calls are retried when it settles (loaded or failed: a failed load does not hold a MNT
   * for longer, the mover answers from its own table). Concurrent asks share the source's loads.
   */
  private loadForPath(now: number): number {
    const taken = this.pathBudget.take(now);
    if (taken === 'first-over') this.logger.warn({ perSecond: this.pathBudget.perSecond }, 'many MNTs of unknown export paths: the rest of this second go to a mover without a route load');
    if (taken !== 'ok') return -1;
    const n = ++this.pathLoadsAsked;
    this.routes
      .refresh('MNT of an unknown export path')
      .catch((err: unknown) => this.logger.debug({ err }, 'route refresh failed'))
      .finally(() => {
        if (n > this.pathLoadsDone) this.pathLoadsDone = n;
        if (!this.closing) this.retryHeld();
      });
    return n;
  }

  /** A live mover, preferring one this client already has a connection to. */
  private anyMover(c: ClientConn, now: number): MoverAddress | undefined {
    for (const up of c.upstreams.values()) if (!up.closed && !this.isDown(up.mover, now)) return up.mover;
    for (const m of this.routes.current().movers) if (!this.isDown(m, now)) return m;
    return undefined;
  }

  private isDown(m: MoverAddress, now: number): boolean {
    const h = this.health.get(m.key);
    return h !== undefined && now < h.downUntilMs;
  }

  private dispatch(call: PendingCall): void {
    const now = this.nowMs();
    const mover = call.retryAtMs > now ? undefined : this.routeOf(call, now);
    if (mover === undefined) this.hold(call, now);
    else this.send(call, mover);
  }

  private send(call: PendingCall, mover: MoverAddress): void {
    const c = call.client;
    const up = c.upstreams.get(mover.key) ?? this.openUpstream(c, mover);
    call.upstream = up;
    this.writeFramed(up.socket, up, call.framed);
    this.pollAfterRelay();
  }

  private hold(call: PendingCall, now: number): void {
    if (call.holdSinceMs < 0) call.holdSinceMs = now;
    if (call.held) return;
    call.held = true;
    call.client.held.push(call);
    this.stats.heldCalls++;
    this.stats.heldNow++;
    this.clientsWithHeld.add(call.client);
    this.ticker ??= setInterval(() => this.retryHeld(), this.retryTickMs);
    this.askRefresh(now);
  }

  /** Fresh routes for held calls: at most every 100 ms, however many calls are held. */
  private askRefresh(now: number): void {
    if (now - this.lastRefreshAskMs < 100) return;
    this.lastRefreshAskMs = now;
    this.routes.refresh('held calls').catch((err: unknown) => this.logger.debug({ err }, 'route refresh failed'));
  }

  /**
   * The route table changed: a call still waiting for a reply from a mover that no longer owns
   * its filesystem is sent to the new owner now, rather than waiting for the old one (which may
   * be stopped, or slow to answer JUKEBOX). Safe for every procedure: a new owner is routed to
   * only once it holds the lease, so the old one is fenced (its writes fail and it answers
   * JUKEBOX) or has handed over (its calls finished before the release); a non-idempotent call
   * that did complete there is answered from the duplicate request cache the new owner loaded.
   * The old upstream's late reply is dropped as stray (the call points at its new upstream).
   */
  private rerouteMoved(): void {
    const now = this.nowMs();
    for (const c of this.clients.values()) {
      if (c.closed) continue;
      for (const call of c.pending.values()) {
        const up = call.upstream;
        if (up === undefined || call.held || (call.verdict !== Verdict.Fsid && call.verdict !== Verdict.ExportPath)) continue;
        const mover = this.routeOf(call, now);
        if (mover === undefined || mover.key === up.mover.key) continue;
        this.stats.rerouted++;
        this.send(call, mover);
      }
    }
  }

  /** Tries every held call again: routed ones go out, those held too long are given up. */
  private retryHeld(): void {
    const now = this.nowMs();
    for (const c of this.clientsWithHeld) {
      const list = c.held;
      c.held = [];
      for (const call of list) {
        if (!call.held) continue;
        const expired = now - call.holdSinceMs >= this.holdMs;
        const mover = c.closed || expired || call.retryAtMs > now ? undefined : this.routeOf(call, now);
        if (mover === undefined && !c.closed && !expired) {
          c.held.push(call); // still no owner to try
          continue;
        }
        call.held = false;
        this.stats.heldNow--;
        if (c.closed) continue;
        if (mover === undefined) {
          this.giveUp(call);
          continue;
        }
        this.stats.replays++;
        this.send(call, mover);
      }
      if (c.held.length === 0) this.clientsWithHeld.delete(c);
    }
    if (this.clientsWithHeld.size > 0) this.askRefresh(now);
    if (this.clientsWithHeld.size === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /**
   * No owner answered within the hold. NFS: NFS3ERR_JUKEBOX, which every NFSv3 client takes
   * as "try again later" (the Linux client waits and retransmits; nothing fails). MOUNT has
   * no such status: MNT3ERR_SERVERFAULT and MNT3ERR_NOENT map to EREMOTEIO/ENOENT, which
   * mount.nfs treats as permanent and gives up on at once. So for MNT and EXPORT the director
   * closes the client connection: to the Linux mount client that is a transport failure
   * (timeout, a temporary error), and mount.nfs keeps retrying within its `retry=` budget;
   * libnfs reports a failed mount instead of waiting forever. UMNT and UMNTALL are advisory
   * and answered as done; DUMP gets an empty list.
   */
  private giveUp(call: PendingCall): void {
    const c = call.client;
    if (call.prog === PROG_NFS) {
      this.stats.jukeboxAnswered++;
      this.finish(call, jukeboxReply(call.xid, call.proc));
      return;
    }
    this.stats.mountGivenUp++;
    if (call.proc === MountProc.UMNT || call.proc === MountProc.UMNTALL) return this.finish(call, voidReply(call.xid));
    if (call.proc === MountProc.DUMP) return this.finish(call, voidReply(call.xid, 1));
    this.logger.warn({ client: c.address, path: call.path, proc: call.proc }, 'no mover answered a MOUNT call within the hold time: closing the client connection');
    this.destroyClient(c);
  }

  /** Completes a call with a reply (relayed or our own) and resumes the client if it waited. */
  private finish(call: PendingCall, framed: Buffer | Buffer[]): void {
    const c = call.client;
    c.pending.delete(call.xid);
    c.heldBytes -= call.length;
    if (!c.socket.writable) return;
    if (Array.isArray(framed)) this.writeFramed(c.socket, c, framed);
    else c.socket.write(framed);
    if (!c.repliesPaused && c.socket.writableLength > this.maxClientBytes) {
      c.repliesPaused = true;
      for (const up of c.upstreams.values()) up.socket.pause();
    }
    if (c.paused || c.readEnded || this.closing) this.pump(c);
  }

  private clientDrained(c: ClientConn): void {
    if (!c.repliesPaused) return;
    c.repliesPaused = false;
    for (const up of c.upstreams.values()) up.socket.resume();
  }

  private openUpstream(c: ClientConn, mover: MoverAddress): Upstream {
    const socket = net.connect({ host: mover.host, port: mover.port });
    const up = new Upstream(c, mover, socket, this.maxRecordBytes);
    c.upstreams.set(mover.key, up);
    this.stats.upstreamsOpened++;
    this.stats.upstreamsOpen++;
    socket.setNoDelay(true);
    if (c.repliesPaused) socket.pause();
    // The header goes first; writes before 'connect' are queued in order by the socket.
    socket.write(c.proxyHeader);
    const timer = setTimeout(() => {
      if (!up.connected) socket.destroy(new Error(`connect to ${mover.key} timed out`));
    }, this.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      up.connected = true;
      socket.setKeepAlive(true, 60_000);
    });
    socket.on('data', (chunk: Buffer) => {
      up.reader.push(chunk);
      this.onUpstreamData(up);
    });
    socket.on('error', (err) => this.logger.debug({ err, mover: mover.key, client: c.address }, 'upstream connection error'));
    socket.on('close', () => {
      clearTimeout(timer);
      this.upstreamClosed(up);
    });
    return up;
  }

  private onUpstreamData(up: Upstream): void {
    const c = up.client;
    for (;;) {
      if (up.closed) return;
      let pieces: Buffer[] | undefined;
      try {
        pieces = up.reader.next();
      } catch (err) {
        this.logger.warn({ err, mover: up.mover.key }, 'upstream reply record too large: dropping the upstream connection');
        up.socket.destroy();
        return;
      }
      if (pieces === undefined) return;
      up.replies++;
      const length = up.reader.length;
      if (length < 4) {
        this.stats.strayReplies++;
        continue;
      }
      const head = recordHead(pieces, length, REPLY_HEAD_BYTES);
      const call = c.pending.get(head.readUInt32BE(0));
      if (call === undefined || call.upstream !== up) {
        this.stats.strayReplies++;
        continue;
      }
      call.upstream = undefined;
      if (call.prog === PROG_NFS && nfsReplyStatus(head) === NFS3ERR_JUKEBOX) {
        // The mover does not serve this filesystem right now (moving, recovering): look the
        // owner up again and replay, unless the call has been held long enough already.
        const now = this.nowMs();
        if (call.holdSinceMs < 0) call.holdSinceMs = now;
        if (now - call.holdSinceMs < this.holdMs) {
          call.retryAtMs = now + this.jukeboxRetryMs;
          this.hold(call, now);
          continue;
        }
      }
      if (length <= SMALL_REPLY_BYTES) {
        // One pooled buffer is cheaper to write than the mark and a view of the chunk (a
        // writev of two): a small reply is copied with its mark.
        const one = Buffer.allocUnsafe(RECORD_MARK_BYTES + length);
        one.writeUInt32BE((LAST_FRAGMENT_BIT | length) >>> 0, 0);
        let at = RECORD_MARK_BYTES;
        for (const p of pieces) at += p.copy(one, at);
        this.finish(call, [one]);
      } else {
        pieces.unshift(markBytes(length));
        this.finish(call, pieces);
      }
      this.pollAfterRelay();
    }
  }

  private upstreamClosed(up: Upstream): void {
    if (up.closed) return;
    up.closed = true;
    this.stats.upstreamsOpen--;
    const c = up.client;
    if (c.upstreams.get(up.mover.key) === up) c.upstreams.delete(up.mover.key);
    if (c.closed) return;
    const now = this.nowMs();
    // A mover that refused the connection, or dropped it before answering anything (down,
    // restarting, or refusing our PROXY header), is left alone for a while, with backoff.
    if (!up.connected || up.replies === 0) {
      const h = this.health.get(up.mover.key) ?? { failures: 0, downUntilMs: 0 };
      h.failures++;
      h.downUntilMs = now + Math.min(25 * 2 ** Math.min(h.failures, 5), 500);
      this.health.set(up.mover.key, h);
      this.stats.upstreamFailures++;
      if (h.failures === 1) this.logger.warn({ mover: up.mover.key }, 'mover unreachable: holding its calls and retrying');
    } else if (this.health.delete(up.mover.key)) {
      this.logger.info({ mover: up.mover.key }, 'mover reachable again');
    }
    let replayed = 0;
    for (const call of c.pending.values()) {
      if (call.upstream !== up) continue;
      call.upstream = undefined;
      this.hold(call, now);
      replayed++;
    }
    if (replayed > 0) this.logger.info({ mover: up.mover.key, client: c.address, calls: replayed }, 'upstream connection lost: holding its calls for replay');
  }

  private clientClosed(c: ClientConn): void {
    if (c.closed) return;
    c.closed = true;
    this.stats.clientsOpen--;
    this.clients.delete(c.id);
    for (const call of c.held) {
      if (call.held) {
        call.held = false;
        this.stats.heldNow--;
      }
    }
    c.held = [];
    this.clientsWithHeld.delete(c);
    for (const up of c.upstreams.values()) up.socket.destroy();
    c.upstreams.clear();
    c.pending.clear();
    c.markDone();
  }

  private destroyClient(c: ClientConn): void {
    c.socket.destroy();
    this.clientClosed(c);
  }

  private endClient(c: ClientConn): void {
    c.ending = true;
    for (const up of c.upstreams.values()) up.socket.end();
    c.socket.end();
  }

  private setPaused(c: ClientConn, paused: boolean): void {
    if (c.paused === paused) return;
    c.paused = paused;
    if (paused) c.socket.pause();
    else c.socket.resume();
  }

  /** Writes a framed record; the writes of one turn of the event loop leave in one writev. */
  private writeFramed(socket: net.Socket, owner: { corked: boolean; uncork: () => void }, framed: Buffer[]): void {
    if (!owner.corked) {
      owner.corked = true;
      socket.cork();
      process.nextTick(owner.uncork);
    }
    for (let i = 0; i < framed.length; i++) socket.write(framed[i]!);
  }
}

/** Calls: the RPC header (at most 32 + 2 x 408 bytes) and the handle or MNT path (1028) fit. */
const HEAD_BYTES = 2048;
/** Replies: the accepted-reply header with its verifier (at most 428 bytes) and nfsstat3. */
const REPLY_HEAD_BYTES = 512;
/** Replies up to this size are copied into one buffer from Node's pool (Buffer.poolSize / 2). */
const SMALL_REPLY_BYTES = 4096 - RECORD_MARK_BYTES - 1;

function markBytes(length: number): Buffer {
  let b = MARKS.get(length);
  if (b === undefined) {
    b = Buffer.alloc(4);
    b.writeUInt32BE((LAST_FRAGMENT_BIT | length) >>> 0, 0);
    if (MARKS.size < 4096) MARKS.set(length, b);
  }
  return b;
}

function normalizePath(p: string): string {
  let s = p;
  while (s.length > 1 && s.endsWith('/')) s = s.slice(0, -1);
  return s;
}
