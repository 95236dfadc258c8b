/**
 * Fencing: a filesystem's space that writes only while this mover's lease on it is valid
 * (ARCHITECTURE "Ownership"). The deadline is measured on this process's monotonic clock from
 * the moment the renewal that granted it was sent, so a process paused past it wakes up already
 * fenced. Past the deadline a write waits for the next renewal: renewed, it goes on (a slow
 * database is a pause, not an error); lost, it fails with FencedError and nothing reaches the
 * device. Reads are never fenced.
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

  /** Resolves when a write may go to the device; rejects with FencedError once lost. */
  check(): Promise<void> | undefined {
    if (this.lost) return Promise.reject(new FencedError(this.fsid));
    if (performance.now() < this.deadline) return undefined;
    return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject })).then(() => this.check());
  }
}

export class FencedSpace implements Space {
  constructor(
    private readonly inner: Space,
    private readonly fence: LeaseFence,
  ) {}

  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }
  get sliceDataBytes(): number {
    return this.inner.sliceDataBytes;
  }
  read(buf: Buffer, pos: number): Promise<void> {
    return this.inner.read(buf, pos);
  }
  write(buf: Buffer, pos: number): Promise<void> {
    const wait = this.fence.check();
    return wait ? wait.then(() => this.inner.write(buf, pos)) : this.inner.write(buf, pos);
  }
  writeDurable(buf: Buffer, pos: number): Promise<void> {
    const wait = this.fence.check();
    return wait ? wait.then(() => this.inner.writeDurable(buf, pos)) : this.inner.writeDurable(buf, pos);
  }
  sync(): Promise<void> {
    const wait = this.fence.check();
    return wait ? wait.then(() => this.inner.sync()) : this.inner.sync();
  }
  grow(): Promise<void> {
    const wait = this.fence.check();
    return wait ? wait.then(() => this.inner.grow()) : this.inner.grow();
  }
}
