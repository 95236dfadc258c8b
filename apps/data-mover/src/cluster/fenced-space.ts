/**
 * Fencing: a filesystem's space that writes only while this mover's lease on it is valid
 * (ARCHITECTURE "Ownership"). The deadline is measured on this process's monotonic clock from
 * the moment the renewal that granted it was sent, so a process paused past it wakes up already
 * fenced. Past the deadline a write waits for the next renewal: renewed, it goes on (a slow
 * database is a pause, not an error); lost, it fails with FencedError and nothing reaches the
 * device. Reads are never fenced.
 *
 * Checked at the last moment: a write that passed its check must reach the kernel at once, never
 * wait in libuv's thread pool queue, because a process stopped (SIGSTOP, a frozen VM) with
 * writes queued there would run them when it resumes, after a new owner took over. So every
 * device request of fenced spaces goes through IO_GATE, which admits fewer requests than the pool
 * has threads (the cluster mover starts with UV_THREADPOOL_SIZE=64), and a write is checked again
 * when it is admitted, right before it is issued. What remains is the microseconds between that
 * check and the thread entering pwrite: without fencing in the storage itself (SCSI persistent
 * reservations, or disk containers that check the epoch) no process can close it.
 */
import type { Space } from '@ferry/pool';

export class FencedError extends Error {
  readonly code = 'FENCED';
  constructor(fsid: bigint) {
    super(`filesystem ${fsid}: this mover no longer holds its lease`);
    this.name = 'FencedError';
  }
}

export class LeaseFence {
  /** performance.now() after which writes wait. */
  deadline = 0;
  private lost = false;
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];

  constructor(
    readonly fsid: bigint,
    readonly epoch: bigint,
  ) {}

  get isLost(): boolean {
    return this.lost;
  }

  /** A renewal sent at `sentAt` (performance.now()) succeeded for `leaseMs`. */
  renewed(sentAt: number, leaseMs: number): void {
    if (this.lost) return;
    this.deadline = Math.max(this.deadline, sentAt + leaseMs);
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.resolve();
  }

  /** The lease is gone (someone else holds a newer epoch, or it was released). */
  lose(): void {
    this.lost = true;
    this.deadline = 0;
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.reject(new FencedError(this.fsid));
  }

  /** A write may be issued right now. */
  writableNow(): boolean {
    return !this.lost && performance.now() < this.deadline;
  }

  /** Resolves when a write may go to the device; rejects with FencedError once lost. */
  check(): Promise<void> | undefined {
    if (this.lost) return Promise.reject(new FencedError(this.fsid));
    if (performance.now() < this.deadline) return undefined;
    return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject })).then(() => this.check());
  }
}

/** Admits at most `limit` device requests at a time (FIFO), so none queues inside libuv. */
export class IoGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(readonly limit: number) {}

  tryAcquire(): boolean {
    if (this.active >= this.limit) return false;
    this.active++;
    return true;
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next(); // the slot passes on
    else this.active--;
  }

  get inUse(): number {
    return this.active;
  }
}

/** The thread pool size the cluster mover sets, and the requests admitted at once (two per
 * space request at most: a request that crosses a slice boundary is two device requests). */
export const UV_THREADS = 64;
export const IO_GATE = new IoGate(24);

export class FencedSpace implements Space {
  /** Requests issued to the device and not yet completed (writes, syncs, grows and reads). */
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly inner: Space,
    private readonly fence: LeaseFence,
    private readonly gate: IoGate = IO_GATE,
  ) {}

  /**
   * Resolves once nothing issued through this space is still running. With the fence lost, no
   * new write can start, so after this the lease can be released: nothing of this process
   * reaches the device behind the next owner's back.
   */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight++;
    return p.finally(() => {
      this.gate.release();
      if (--this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }
  get sliceDataBytes(): number {
    return this.inner.sliceDataBytes;
  }
  read(buf: Buffer, pos: number): Promise<void> {
    if (this.gate.tryAcquire()) return this.track(this.inner.read(buf, pos));
    return this.gate.acquire().then(() => this.track(this.inner.read(buf, pos)));
  }
  write(buf: Buffer, pos: number): Promise<void> {
    return this.fenced(() => this.inner.write(buf, pos));
  }
  writeDurable(buf: Buffer, pos: number): Promise<void> {
    return this.fenced(() => this.inner.writeDurable(buf, pos));
  }
  sync(): Promise<void> {
    return this.fenced(() => this.inner.sync());
  }
  grow(): Promise<void> {
    return this.fenced(() => this.inner.grow());
  }

  /** Checks the lease when the request is admitted, and issues it in the same tick. */
  private fenced(io: () => Promise<void>): Promise<void> {
    if (this.fence.writableNow() && this.gate.tryAcquire()) return this.track(io());
    return this.slow(io);
  }

  private async slow(io: () => Promise<void>): Promise<void> {
    for (;;) {
      await this.fence.check(); // waits for a renewal; throws FencedError once lost
      await this.gate.acquire();
      if (this.fence.writableNow()) return this.track(io());
      this.gate.release();
    }
  }
}
