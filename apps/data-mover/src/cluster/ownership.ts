/**
 * Ownership on a cluster mover: heartbeats, lease renewal, taking over assigned filesystems and
 * giving up the others (docs/cluster.md, "Leases").
 *
 * Invariants:
 * - Renewal never waits for filesystem work: opening (recovery) and releasing (flush) run beside
 *   the tick loop, one at a time per filesystem, so a slow flush cannot starve other leases.
 * - A filesystem is served only under a live LeaseFence of the epoch this mover acquired; every
 *   write of its space passes that fence (fenced-space.ts).
 * - Lost (the renewal shows another epoch or holder): fence first, then drop without writing.
 *   Moved away (assigned elsewhere, lease still ours): stop serving, flush and close, then
 *   release, so the next owner starts at once from a clean log.
 * - Taking over: acquire (database rules), refresh the pool's view of the slices, open with the
 *   superblock epoch bumped (recovery from the pool alone), then mark serving and tell directors.
 * - Usage (docs/cluster.md, "Usage"): the statfs figures of served filesystems are measured beside
 *   the tick loop, at most every `usageEveryMs`, and sent with the next renewal, in its statement:
 *   no query of their own, and a renewal never waits for a measurement. A renewal that failed
 *   while carrying figures is retried without them, so usage can never keep a lease from renewing.
 */
import { CLUSTER_TOPICS, type EventBus, type FsUsage, type LeaseStore, type TickResult, type UsageReport } from '@ferry/control';
import type { Space } from '@ferry/pool';
import { FencedSpace, LeaseFence } from './fenced-space';

export interface OwnedFilesystems {
  /** Opens and serves `fsid` with writes going through `wrap`. */
  open(fsid: bigint, wrap: (space: Space) => Space): Promise<void>;
  /** Stops serving, flushes and closes (planned move). */
  release(fsid: bigint): Promise<void>;
  /** Stops serving without writing (lease lost). */
  drop(fsid: bigint): Promise<void>;
  /** Makes the pool's view of slices current (before opening a filesystem another mover wrote). */
  refreshPool(): Promise<void>;
  /** statfs of a served filesystem (what the embedded start shows); undefined if not served. */
  usage?(fsid: bigint): Promise<FsUsage | undefined>;
}

export interface OwnershipOptions {
  /** Measure and report usage at most this often (default 2000 ms); 0 turns reporting off. */
  usageEveryMs?: number;
}

/** Usage figures count as current for this many report intervals (and never less than 5 s). */
const USAGE_FRESH_INTERVALS = 3;
const USAGE_FRESH_MIN_MS = 5000;

export interface OwnershipLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

interface Held {
  fence: LeaseFence;
  state: 'opening' | 'serving' | 'releasing';
  /** The filesystem's fenced spaces (one per open), to wait until their IO has settled. */
  spaces: FencedSpace[];
}

export class Ownership {
  private readonly held = new Map<bigint, Held>();
  private readonly busy = new Map<bigint, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;
  private again = false;
  /** Set when the mover's row says drained or is gone (it keeps serving nothing new). */
  moverState: string | undefined = 'active';
  /** Measured figures waiting for the next renewal, with the epoch they were measured under. */
  private readonly measured = new Map<bigint, { epoch: bigint; usage: FsUsage; at: number }>();
  private measuring?: Promise<void>;
  private lastMeasuredAt = -Infinity;
  private sendUsage = true;
  private readonly usageEveryMs: number;

  constructor(
    private readonly store: LeaseStore,
    private readonly moverId: string,
    private readonly owned: OwnedFilesystems,
    private readonly logger: OwnershipLogger,
    private readonly events?: EventBus,
    opts: OwnershipOptions = {},
  ) {
    this.usageEveryMs = opts.usageEveryMs ?? 2000;
  }

  get leaseMs(): number {
    return this.store.leaseMs;
  }

  /** Filesystems this mover serves right now. */
  serving(): bigint[] {
    return [...this.held].filter(([, h]) => h.state === 'serving').map(([f]) => f);
  }

  /** Known to the cluster but not served here (answered with JUKEBOX by the NFS service). */
  isServing(fsid: bigint): boolean {
    return this.held.get(fsid)?.state === 'serving';
  }

  /** The epoch of the lease under which this mover serves `fsid` right now, if it does. */
  servingEpoch(fsid: bigint): bigint | undefined {
    const h = this.held.get(fsid);
    return h?.state === 'serving' && !h.fence.isLost ? h.fence.epoch : undefined;
  }

  start(): void {
    this.events?.subscribe(CLUSTER_TOPICS.leasesAssigned, () => this.poke());
    this.events?.subscribe(CLUSTER_TOPICS.leasesReleased, () => this.poke());
    this.schedule(0);
  }

  /** Ticks now (an assignment or a release happened elsewhere). */
  poke(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  /**
   * Stops ticking and gives every filesystem up cleanly (flush, release), so the controller can
   * place them elsewhere at once: a SIGTERM is a planned move for every filesystem here.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking?.catch(() => undefined);
    await this.measuring;
    await Promise.allSettled([...this.busy.values()]);
    await Promise.allSettled([...this.held.keys()].map((fsid) => this.giveUp(fsid)));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.ticking = this.tick()
        .catch((err: unknown) => this.logger.warn({ err: String(err) }, 'lease renewal failed (writes pause at the lease deadline)'))
        .finally(() => {
          this.ticking = undefined;
          const pending = this.again;
          this.again = false;
          this.schedule(pending ? 0 : this.nextDelay());
        });
    }, ms);
  }

  /** A quarter of the lease; faster while an assigned filesystem waits for its old lease to end. */
  private nextDelay(): number {
    return this.waiting ? Math.min(150, this.leaseMs / 4) : this.leaseMs / 4;
  }
  private waiting = false;

  async tick(): Promise<void> {
    const sentAt = performance.now();
    // Only the leases this process acquired (a predecessor under the same name holds none of
    // ours), and only those are judged: one acquired while this tick ran is renewed by the next.
    const asked = [...this.held].map(([fsid, h]) => ({ fsid, epoch: h.fence.epoch, h }));
    const reports = this.sendUsage ? this.takeMeasured(sentAt) : [];
    let t: TickResult;
    try {
      t = await this.store.tick(
        this.moverId,
        asked.map(({ fsid, epoch }) => ({ fsid, epoch })),
        reports.length ? { reports, freshMs: this.usageFreshMs() } : undefined,
      );
    } catch (err) {
      if (reports.length) this.sendUsage = false; // the next renewal goes without figures
      throw err;
    }
    this.sendUsage = true;
    this.moverState = t.moverState;
    const renewed = new Map(t.held.map((h) => [h.fsid, h.epoch]));
    for (const { fsid, epoch, h } of asked) {
      if (this.held.get(fsid) !== h) continue; // given up or lost meanwhile
      if (renewed.get(fsid) === epoch) h.fence.renewed(sentAt, this.leaseMs);
      else this.lost(fsid, h);
    }
    const assigned = new Map(t.assigned.map((a) => [a.fsid, a]));
    for (const [fsid, h] of this.held) {
      if (!assigned.has(fsid) && h.state === 'serving') this.run(fsid, () => this.giveUp(fsid));
    }
    this.waiting = false;
    for (const a of t.assigned) {
      if (this.held.has(a.fsid) || this.busy.has(a.fsid)) continue;
      if (!a.takeable) {
        this.waiting = true;
        continue;
      }
      this.run(a.fsid, () => this.takeOver(a.fsid));
    }
    this.measureUsage();
  }

  private usageFreshMs(): number {
    return Math.ceil(Math.max(USAGE_FRESH_MIN_MS, USAGE_FRESH_INTERVALS * Math.max(this.usageEveryMs, this.leaseMs / 4)));
  }

  /** The figures measured since the last renewal, for filesystems still served under their epoch. */
  private takeMeasured(now: number): UsageReport[] {
    const out: UsageReport[] = [];
    for (const [fsid, m] of this.measured) {
      if (this.servingEpoch(fsid) === m.epoch) out.push({ fsid, epoch: m.epoch, usage: m.usage, ageMs: Math.max(0, now - m.at) });
    }
    this.measured.clear();
    return out;
  }

  /** Starts a measurement of every served filesystem in the background, if one is due. */
  private measureUsage(): void {
    const usage = this.owned.usage?.bind(this.owned);
    if (!usage || this.usageEveryMs <= 0 || this.measuring || this.stopped) return;
    if (performance.now() - this.lastMeasuredAt < this.usageEveryMs) return;
    const fsids = this.serving();
    if (fsids.length === 0) return; // nothing to measure: one taken over next is measured at once
    this.lastMeasuredAt = performance.now();
    this.measuring = (async () => {
      for (const fsid of fsids) {
        const epoch = this.servingEpoch(fsid);
        if (epoch === undefined) continue;
        const u = await usage(fsid).catch((err: unknown) => {
          this.logger.warn({ fsid: fsid.toString(), err: String(err) }, 'usage of a served filesystem failed (not reported)');
          return undefined;
        });
        if (u && this.servingEpoch(fsid) === epoch) this.measured.set(fsid, { epoch, usage: u, at: performance.now() });
      }
    })().finally(() => (this.measuring = undefined));
  }

  private run(fsid: bigint, fn: () => Promise<void>): void {
    if (this.busy.has(fsid)) return;
    const p = fn()
      .catch((err: unknown) => this.logger.error({ fsid: fsid.toString(), err }, 'ownership change failed (retried at the next tick)'))
      .finally(() => this.busy.delete(fsid));
    this.busy.set(fsid, p);
  }

  private async takeOver(fsid: bigint): Promise<void> {
    const sentAt = performance.now();
    const epoch = await this.store.acquire(this.moverId, fsid);
    if (epoch === undefined) return; // taken meanwhile, or not yet expired: next tick
    const started = performance.now();
    const fence = new LeaseFence(fsid, epoch);
    fence.renewed(sentAt, this.leaseMs);
    fence.onFirstRefusal = () =>
      this.logger.warn({ fsid: fsid.toString(), epoch: epoch.toString() }, 'a write queued under the lease started after its deadline and was refused in the IO thread (the process stalled or was stopped)');
    const h: Held = { fence, state: 'opening', spaces: [] };
    this.held.set(fsid, h);
    let refreshMs = 0;
    try {
      await this.owned.refreshPool();
      refreshMs = Math.round(performance.now() - started);
      await this.owned.open(fsid, (space) => {
        const fenced = new FencedSpace(space, fence);
        h.spaces.push(fenced);
        return fenced;
      });
    } catch (err) {
      this.held.delete(fsid);
      fence.lose();
      await this.owned.drop(fsid).catch(() => undefined);
      await this.store.release(this.moverId, fsid, epoch).catch(() => undefined);
      throw err;
    }
    if (fence.isLost) return; // lost while opening: lost() dropped it
    h.state = 'serving';
    if (!(await this.store.setServing(this.moverId, fsid, epoch, true))) {
      this.lost(fsid, h);
      return;
    }
    this.logger.info({ fsid: fsid.toString(), epoch: epoch.toString(), refreshMs, openMs: Math.round(performance.now() - started) }, 'filesystem taken over and served');
    await this.events?.publish(CLUSTER_TOPICS.routesChanged, { fsid: fsid.toString() }).catch(() => undefined);
  }

  /** Planned: stop serving, flush, close, release. */
  private async giveUp(fsid: bigint): Promise<void> {
    const h = this.held.get(fsid);
    if (!h || h.fence.isLost) return;
    const started = performance.now();
    h.state = 'releasing';
    await this.store.setServing(this.moverId, fsid, h.fence.epoch, false).catch(() => undefined);
    try {
      await this.owned.release(fsid);
    } catch (err) {
      this.lost(fsid, h); // fenced and dropped; the lease runs out and the next owner waits for it
      throw err;
    }
    this.held.delete(fsid);
    // Nothing of ours may reach the device once the lease is free: fence first, let the IO
    // already issued finish, and only then release.
    h.fence.lose();
    await Promise.all(h.spaces.map((s) => s.idle()));
    const released = await this.store.release(this.moverId, fsid, h.fence.epoch);
    this.logger.info({ fsid: fsid.toString(), epoch: h.fence.epoch.toString(), released, releaseMs: Math.round(performance.now() - started) }, 'filesystem handed over');
    await this.events?.publish(CLUSTER_TOPICS.leasesReleased, { fsid: fsid.toString() }).catch(() => undefined);
    await this.events?.publish(CLUSTER_TOPICS.routesChanged, { fsid: fsid.toString() }).catch(() => undefined);
  }

  private lost(fsid: bigint, h: Held): void {
    h.fence.lose();
    this.held.delete(fsid);
    this.logger.warn({ fsid: fsid.toString(), epoch: h.fence.epoch.toString() }, 'lease lost: filesystem fenced and dropped');
    const prev = this.busy.get(fsid) ?? Promise.resolve();
    const p = prev
      .then(() => this.owned.drop(fsid))
      .catch((err: unknown) => this.logger.error({ fsid: fsid.toString(), err }, 'dropping a fenced filesystem failed'))
      .finally(() => {
        if (this.busy.get(fsid) === p) this.busy.delete(fsid);
      });
    this.busy.set(fsid, p);
  }
}
