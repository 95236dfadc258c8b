/**
 * Fencing: a filesystem's space that writes only while this mover's lease on it is valid
 * (ARCHITECTURE "Ownership", docs/cluster.md "Fencing"). The deadline is measured on this
 * process's monotonic clock from the moment the renewal that granted it was sent, less a margin,
 * so it falls before the lease's expiry in the database. Past the deadline a write waits for the
 * next renewal: renewed, it goes on (a slow database is a pause, not an error); lost, it fails
 * with FencedError. Reads are never fenced.
 *
 * The check that counts is made in the IO thread, right before each pwrite: the space's devices
 * get the lease's WriteFence (libs/pool write-fence.ts, native/fenced_io.c). A process stopped
 * (SIGSTOP, a frozen VM) with writes queued for libuv's thread pool therefore finds them fenced
 * when it resumes, instead of running them after a new owner took over. A write refused there
 * comes back as FenceClosedError and waits for a renewal like any other. The check here, before
 * the write is queued, only spares the queue writes that would be refused anyway.
 */
import { FenceClosedError, WriteFence, type Space } from '@ferry/pool';

export class FencedError extends Error {
  readonly code = 'FENCED';
  constructor(fsid: bigint) {
    super(`filesystem ${fsid}: this mover no longer holds its lease`);
    this.name = 'FencedError';
  }
}

/** The part of a lease the deadline leaves unused: clock-rate differences, a write in the kernel. */
export const FENCE_MARGIN = 0.1;

export class LeaseFence {
  /** performance.now() after which writes wait. */
  private deadline = 0;
  private lost = false;
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** What the IO threads check (hrtime nanoseconds; 0 = closed). */
  readonly writes = new WriteFence();
  /** Writes the IO thread refused because they started past the deadline. */
  refusedAtDevice = 0;
  /** Called at the first such refusal (the owner logs it: a stall or stop held queued writes). */
  onFirstRefusal: (() => void) | undefined;

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
    const deadline = sentAt + leaseMs * (1 - FENCE_MARGIN);
    if (deadline > this.deadline) {
      this.deadline = deadline;
      const leftMs = deadline - performance.now();
      this.writes.setDeadline(process.hrtime.bigint() + BigInt(Math.max(0, Math.floor(leftMs * 1e6))));
    }
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.resolve();
  }

  noteRefusal(): void {
    if (this.refusedAtDevice++ === 0) this.onFirstRefusal?.();
  }

  /** The deadline passed without a renewal (for tests; time does this by itself). */
  expire(): void {
    this.deadline = 0;
    this.writes.close();
  }

  /** The lease is gone (someone else holds a newer epoch, or it was released). */
  lose(): void {
    this.lost = true;
    this.deadline = 0;
    this.writes.close();
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

export class FencedSpace implements Space {
  /** Requests issued to the device and not yet completed (writes, syncs, grows and reads). */
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly inner: Space,
    private readonly fence: LeaseFence,
  ) {
    if (!inner.setWriteFence) throw new Error('a fenced space needs a space whose devices check the fence (PoolSpace)');
    inner.setWriteFence(fence.writes);
  }

  /**
   * Resolves once nothing issued through this space is still running. With the fence lost, no
   * new write can start, so after this the lease can be released: nothing of this process
   * reaches the device behind the next owner's back.
   */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight++;
    return p.finally(() => {
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
    return this.track(this.inner.read(buf, pos));
  }
  readWithCrcs(buf: Buffer, pos: number): Promise<Uint32Array | undefined> {
    if (!this.inner.readWithCrcs) return this.read(buf, pos).then(() => undefined);
    return this.track(this.inner.readWithCrcs(buf, pos));
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

  private fenced(io: () => Promise<void>): Promise<void> {
    if (this.fence.writableNow()) return this.track(io()).catch((err: unknown) => this.refused(err, io));
    return this.slow(io);
  }

  /** The IO thread found the fence closed: wait for a renewal (or the loss) and write again. */
  private refused(err: unknown, io: () => Promise<void>): Promise<void> {
    if (!(err instanceof FenceClosedError)) throw err;
    this.fence.noteRefusal();
    return this.slow(io);
  }

  private async slow(io: () => Promise<void>): Promise<void> {
    for (;;) {
      await this.fence.check(); // waits for a renewal; throws FencedError once lost
      try {
        return await this.track(io());
      } catch (err) {
        if (!(err instanceof FenceClosedError)) throw err;
        this.fence.noteRefusal();
      }
    }
  }
}
