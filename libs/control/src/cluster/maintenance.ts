/**
 * Scrub and fsck of a cluster filesystem, run by the mover that owns it (docs/cluster.md,
 * "Scrub and fsck"). The admin-api's job asks; the owner runs the work on its open filesystem
 * and answers over the event bus (Redis pub/sub under redisPrefix()):
 *
 *   admin ──maintenance.request {requestId, kind, fsid, moverId, epoch}──► every mover
 *   owner ──maintenance.update  {requestId, state: accepted|progress|alive|done|failed|rejected}──► admin
 *   admin ──maintenance.cancel  {requestId}──► every mover (job cancelled, or the admin gave up)
 *
 * Invariants:
 * - The owner is whoever holds a serving, unexpired lease in fs_leases (database clock). A
 *   request names that mover and epoch; a mover that does not hold that very lease rejects it,
 *   and the client looks the owner up again (a move raced the request).
 * - Every wait of the client is bounded: for an owner (ownerWaitMs), for the owner to accept
 *   (acceptTimeoutMs), and for a word from a running owner (silenceTimeoutMs; the owner sends
 *   `alive` every aliveEveryMs). While it runs, the client re-reads the lease every checkEveryMs:
 *   a different holder or epoch, or none, means the owner moved the filesystem, lost its lease
 *   or died, and the request fails at once with that reason (it is never retried on another
 *   owner: the caller runs the job again).
 * - Pub/sub delivers at most once: a lost request looks like an owner that did not accept (the
 *   client retries within ownerWaitMs), a lost outcome like silence (the request fails).
 * - Payloads are JSON: fsids and epochs travel as decimal strings.
 *
 * No engine here: the mover hands the server its scrub and fsck as functions.
 */
import { randomUUID } from 'node:crypto';
import { ControlError, ControlErrorCode } from '../errors';
import type { EventBus } from '../events';
import type { Progress } from '../storage-host';
import type { Queryable } from './lease-store';

export const MAINTENANCE_TOPICS = {
  request: 'maintenance.request',
  update: 'maintenance.update',
  cancel: 'maintenance.cancel',
} as const;

export type MaintenanceKind = 'scrub' | 'fsck';

export interface MaintenanceRequest {
  requestId: string;
  kind: MaintenanceKind;
  fsid: string;
  moverId: string;
  epoch: string;
}

export type MaintenanceUpdate =
  | { requestId: string; state: 'accepted' | 'alive' }
  | { requestId: string; state: 'progress'; done: number; total: number; detail?: Record<string, unknown> }
  | { requestId: string; state: 'done'; result: unknown }
  | { requestId: string; state: 'failed'; code?: string; message: string }
  | { requestId: string; state: 'rejected'; message: string };

export interface MaintenanceCancel {
  requestId: string;
  reason: string;
}

/** The holder of a filesystem's serving, unexpired lease. */
export interface LeaseOwner {
  moverId: string;
  moverName: string;
  epoch: string;
}

/** The owner of `fsid` per fs_leases right now (database clock), or undefined. */
export async function servingOwner(db: Queryable, fsid: bigint): Promise<LeaseOwner | undefined> {
  const rows: Array<{ mover_id: string; name: string | null; epoch: string }> = await db.query(
    `SELECT l.owner_mover_id AS mover_id, m.name, l.epoch::text AS epoch
     FROM fs_leases l LEFT JOIN movers m ON m.id = l.owner_mover_id
     WHERE l.fsid = $1 AND l.owner_mover_id IS NOT NULL AND l.serving AND l.expires_at > now()`,
    [fsid.toString()],
  );
  const r = rows[0];
  return r ? { moverId: r.mover_id, moverName: r.name ?? r.mover_id, epoch: r.epoch } : undefined;
}

export interface MaintenanceClientOptions {
  events: EventBus;
  /** The current owner of a filesystem (servingOwner on the cluster's database). */
  owner(fsid: bigint): Promise<LeaseOwner | undefined>;
  /** How long to wait for a serving owner that accepts (default 30 s). */
  ownerWaitMs?: number;
  /** How long an owner has to accept one request (default 5 s). */
  acceptTimeoutMs?: number;
  /** How long a running owner may stay silent (default 20 s; it says `alive` every 2 s). */
  silenceTimeoutMs?: number;
  /** How often the lease is re-read while waiting (default 1 s). */
  checkEveryMs?: number;
  newId?: () => string;
}

interface Pending {
  onUpdate(u: MaintenanceUpdate): void;
}

/** The admin-api's side: asks the owner and waits, within bounds, for its outcome. */
export class MaintenanceClient {
  private readonly pending = new Map<string, Pending>();
  private readonly ownerWaitMs: number;
  private readonly acceptTimeoutMs: number;
  private readonly silenceTimeoutMs: number;
  private readonly checkEveryMs: number;

  constructor(private readonly opts: MaintenanceClientOptions) {
    this.ownerWaitMs = opts.ownerWaitMs ?? 30_000;
    this.acceptTimeoutMs = opts.acceptTimeoutMs ?? 5_000;
    this.silenceTimeoutMs = opts.silenceTimeoutMs ?? 20_000;
    this.checkEveryMs = opts.checkEveryMs ?? 1_000;
    opts.events.subscribe(MAINTENANCE_TOPICS.update, (payload) => {
      const u = payload as MaintenanceUpdate | null;
      if (u && typeof u.requestId === 'string') this.pending.get(u.requestId)?.onUpdate(u);
    });
  }

  /** Runs `kind` on the owner of `fsid`; resolves with the owner's report. */
  async run(kind: MaintenanceKind, fsid: bigint, progress: Progress, signal: AbortSignal): Promise<unknown> {
    const deadline = Date.now() + this.ownerWaitMs;
    let lastWhy = 'no data mover serves it';
    for (;;) {
      signal.throwIfAborted();
      const owner = await this.opts.owner(fsid).catch((err: unknown) => {
        lastWhy = `the lease could not be read: ${String(err)}`;
        return undefined;
      });
      if (owner) {
        const outcome = await this.attempt(kind, fsid, owner, progress, signal);
        if (outcome.ok) return outcome.result;
        lastWhy = outcome.why;
      }
      if (Date.now() >= deadline) {
        throw new ControlError(ControlErrorCode.Unavailable, `${kind} of filesystem ${fsid}: no owner took the request within ${Math.round(this.ownerWaitMs / 1000)} s (${lastWhy}); try again`);
      }
      await sleep(Math.min(250, Math.max(0, deadline - Date.now())), signal);
    }
  }

  /**
   * One request to one owner. Resolves `{ok: false}` when the owner did not take it (it may be
   * retried); rejects when the owner took it and it failed, or the owner went away meanwhile.
   */
  private attempt(kind: MaintenanceKind, fsid: bigint, owner: LeaseOwner, progress: Progress, signal: AbortSignal): Promise<{ ok: true; result: unknown } | { ok: false; why: string }> {
    const requestId = (this.opts.newId ?? randomUUID)();
    const who = `mover ${owner.moverName} (epoch ${owner.epoch})`;
    return new Promise((resolve, reject) => {
      let accepted = false;
      let lastWordMs = Date.now();
      let checking = false;
      let settled = false;
      const finish = (fn: () => void, cancelReason?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(acceptTimer);
        clearInterval(checkTimer);
        signal.removeEventListener('abort', onAbort);
        this.pending.delete(requestId);
        if (cancelReason !== undefined) {
          const c: MaintenanceCancel = { requestId, reason: cancelReason };
          this.opts.events.publish(MAINTENANCE_TOPICS.cancel, c).catch(() => undefined);
        }
        fn();
      };
      const fail = (code: ControlErrorCode, message: string, cancel = true): void =>
        finish(() => reject(new ControlError(code, `${kind} of filesystem ${fsid}: ${message}`)), cancel ? message : undefined);
      const onAbort = (): void => finish(() => reject(signal.reason), 'cancelled');
      signal.addEventListener('abort', onAbort, { once: true });

      const acceptTimer = setTimeout(() => {
        if (!accepted) finish(() => resolve({ ok: false, why: `${who} did not answer within ${this.acceptTimeoutMs} ms` }), 'not accepted in time');
      }, this.acceptTimeoutMs);

      const checkTimer = setInterval(() => {
        if (!accepted || checking || settled) return;
        if (Date.now() - lastWordMs > this.silenceTimeoutMs) {
          fail(ControlErrorCode.Unavailable, `no word from ${who} for ${Math.round(this.silenceTimeoutMs / 1000)} s: it may have stopped or died; run the job again`);
          return;
        }
        checking = true;
        this.opts
          .owner(fsid)
          .then((now) => {
            if (settled) return;
            if (!now) fail(ControlErrorCode.Unavailable, `${who} no longer serves it (lease released, lost or expired: the mover moved it, stopped or died); run the job again`);
            else if (now.moverId !== owner.moverId || now.epoch !== owner.epoch)
              fail(ControlErrorCode.Unavailable, `the filesystem moved from ${who} to mover ${now.moverName} (epoch ${now.epoch}); run the job again`);
          })
          .catch(() => undefined) // the database may be slow: silence decides then
          .finally(() => (checking = false));
      }, this.checkEveryMs);

      this.pending.set(requestId, {
        onUpdate: (u) => {
          lastWordMs = Date.now();
          switch (u.state) {
            case 'accepted':
              accepted = true;
              clearTimeout(acceptTimer);
              break;
            case 'alive':
              break;
            case 'progress':
              accepted = true;
              clearTimeout(acceptTimer);
              progress(u.done, u.total, u.detail);
              break;
            case 'done':
              finish(() => resolve({ ok: true, result: u.result }));
              break;
            case 'failed':
              finish(() => reject(new ControlError(asCode(u.code), `${kind} of filesystem ${fsid} on mover ${owner.moverName}: ${u.message}`)));
              break;
            case 'rejected':
              finish(() => resolve({ ok: false, why: `${who}: ${u.message}` }));
              break;
          }
        },
      });
      const req: MaintenanceRequest = { requestId, kind, fsid: fsid.toString(), moverId: owner.moverId, epoch: owner.epoch };
      this.opts.events.publish(MAINTENANCE_TOPICS.request, req).catch((err: unknown) => fail(ControlErrorCode.Unavailable, `the request could not be sent: ${String(err)}`, false));
    });
  }
}

export interface MaintenanceWork {
  /** True while this mover serves `fsid` under the lease of `epoch`. */
  owns(fsid: bigint, epoch: bigint): boolean;
  scrub(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<unknown>;
  fsck(fsid: bigint, progress: Progress, signal: AbortSignal): Promise<unknown>;
}

export interface MaintenanceLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

export interface MaintenanceServerOptions {
  events: EventBus;
  moverId: string;
  work: MaintenanceWork;
  logger: MaintenanceLogger;
  /** How often a running request says `alive` (default 2 s). */
  aliveEveryMs?: number;
  /** Least time between two progress updates (default 250 ms; the last one always goes). */
  progressEveryMs?: number;
}

/** The mover's side: runs the requests addressed to it, one per filesystem at a time (the newest). */
export class MaintenanceServer {
  private readonly running = new Map<string, { fsid: string; ac: AbortController; done: Promise<void> }>();
  private stopped = false;

  constructor(private readonly opts: MaintenanceServerOptions) {}

  start(): void {
    this.opts.events.subscribe(MAINTENANCE_TOPICS.request, (payload) => this.onRequest(payload as MaintenanceRequest));
    this.opts.events.subscribe(MAINTENANCE_TOPICS.cancel, (payload) => {
      const c = payload as MaintenanceCancel | null;
      const r = c && typeof c.requestId === 'string' ? this.running.get(c.requestId) : undefined;
      if (r) r.ac.abort(new ControlError(ControlErrorCode.Unavailable, `cancelled by the admin-api (${String(c?.reason)})`));
    });
  }

  /** Aborts what runs (the mover is stopping) and waits for it to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const r of this.running.values()) r.ac.abort(new ControlError(ControlErrorCode.Unavailable, 'the data mover is stopping'));
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  private send(u: MaintenanceUpdate): void {
    this.opts.events.publish(MAINTENANCE_TOPICS.update, u).catch((err: unknown) => this.opts.logger.warn({ requestId: u.requestId, err: String(err) }, 'maintenance update not sent'));
  }

  private onRequest(req: MaintenanceRequest | null): void {
    if (!req || req.moverId !== this.opts.moverId || typeof req.requestId !== 'string' || this.running.has(req.requestId)) return;
    const { requestId } = req;
    if ((req.kind !== 'scrub' && req.kind !== 'fsck') || !/^\d+$/.test(String(req.fsid)) || !/^\d+$/.test(String(req.epoch))) {
      this.send({ requestId, state: 'failed', code: ControlErrorCode.Invalid, message: `malformed request ${JSON.stringify(req)}` });
      return;
    }
    const fsid = BigInt(req.fsid);
    if (this.stopped) {
      this.send({ requestId, state: 'rejected', message: 'the data mover is stopping' });
      return;
    }
    if (!this.opts.work.owns(fsid, BigInt(req.epoch))) {
      this.send({ requestId, state: 'rejected', message: `does not serve filesystem ${req.fsid} under epoch ${req.epoch}` });
      return;
    }
    // The API lets one scrub or fsck of a filesystem be queued or running at a time, so an
    // earlier request still running here has lost its asker (an admin-api that died and whose
    // job started over, or a cancel that was lost): the newest request wins.
    const prior = [...this.running.values()].filter((r) => r.fsid === req.fsid);
    for (const r of prior) r.ac.abort(new ControlError(ControlErrorCode.Conflict, `superseded by a newer request for filesystem ${req.fsid}`));
    const ac = new AbortController();
    const entry = { fsid: req.fsid, ac, done: Promise.resolve() };
    this.running.set(requestId, entry);
    this.opts.logger.info({ requestId, kind: req.kind, fsid: req.fsid, superseding: prior.length }, `${req.kind} requested by the admin-api`);
    this.send({ requestId, state: 'accepted' });
    const alive = setInterval(() => this.send({ requestId, state: 'alive' }), this.opts.aliveEveryMs ?? 2_000);
    entry.done = Promise.allSettled(prior.map((r) => r.done))
      .then(() => this.execute(req, fsid, ac.signal))
      .finally(() => {
        clearInterval(alive);
        this.running.delete(requestId);
      });
  }

  private async execute(req: MaintenanceRequest, fsid: bigint, signal: AbortSignal): Promise<void> {
    const { requestId } = req;
    const started = Date.now();
    const every = this.opts.progressEveryMs ?? 250;
    let lastSentMs = Number.NEGATIVE_INFINITY;
    let trailing: NodeJS.Timeout | undefined;
    let latest: { done: number; total: number; detail?: Record<string, unknown> } | undefined;
    const flush = (): void => {
      trailing = undefined;
      if (!latest) return;
      lastSentMs = Date.now();
      this.send({ requestId, state: 'progress', ...latest });
      latest = undefined;
    };
    const progress: Progress = (done, total, detail) => {
      latest = { done, total, detail: detail ? { ...detail } : undefined };
      if (Date.now() - lastSentMs >= every) flush();
      else trailing ??= setTimeout(flush, every);
    };
    try {
      signal.throwIfAborted();
      const result = req.kind === 'scrub' ? await this.opts.work.scrub(fsid, progress, signal) : await this.opts.work.fsck(fsid, progress, signal);
      if (trailing) clearTimeout(trailing);
      flush();
      this.send({ requestId, state: 'done', result });
      this.opts.logger.info({ requestId, kind: req.kind, fsid: req.fsid, ms: Date.now() - started }, `${req.kind} finished`);
    } catch (err) {
      if (trailing) clearTimeout(trailing);
      const cause = signal.aborted && !(err instanceof ControlError) ? signal.reason : err;
      const code = cause instanceof ControlError ? cause.code : undefined;
      const message = cause instanceof Error ? cause.message : String(cause);
      this.send({ requestId, state: 'failed', code, message });
      this.opts.logger.warn({ requestId, kind: req.kind, fsid: req.fsid, err: message }, `${req.kind} failed`);
    }
  }
}

function asCode(code: string | undefined): ControlErrorCode {
  return Object.values(ControlErrorCode).includes(code as ControlErrorCode) ? (code as ControlErrorCode) : ControlErrorCode.Unavailable;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
