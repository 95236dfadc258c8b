/**
 * A write fence: a deadline past which a space's writes must not reach its devices (the cluster
 * mover's lease, docs/cluster.md "Fencing"). FileDevice checks it in the IO thread right before
 * each pwrite (libs/pool/native/fenced_io.c), not when the write is queued: a process stopped
 * (SIGSTOP, a frozen VM) with writes queued for libuv's thread pool finds them fenced when it
 * resumes instead of running them behind a new owner's back.
 *
 * Invariants: the deadline is in nanoseconds of CLOCK_MONOTONIC (process.hrtime.bigint(), the
 * clock the native check reads); it lives in an 8-byte shared cell stored and loaded atomically;
 * 0 means closed. A write refused by the fence wrote nothing of the pwrite it was about to issue
 * (earlier pieces of the same request may be on the device: the caller retries it whole).
 */
import { nativeIo } from './native-io';

export class FenceClosedError extends Error {
  readonly code = 'FENCE_CLOSED';
  constructor() {
    super('the write fence was closed when the write was due to start');
    this.name = 'FenceClosedError';
  }
}

export class WriteFence {
  /** The shared cell the native check reads. */
  readonly cell: Buffer;
  private readonly view: BigInt64Array;

  constructor() {
    nativeIo(); // fail at once, not at the first write, when the addon is missing
    const sab = new SharedArrayBuffer(8);
    this.cell = Buffer.from(sab);
    this.view = new BigInt64Array(sab);
  }

  /** Writes may start until `deadlineNs` (process.hrtime.bigint() time). */
  setDeadline(deadlineNs: bigint): void {
    Atomics.store(this.view, 0, deadlineNs);
  }

  close(): void {
    Atomics.store(this.view, 0, 0n);
  }

  get deadlineNs(): bigint {
    return Atomics.load(this.view, 0);
  }

  /** What the native check would answer now. */
  isOpenNow(): boolean {
    return process.hrtime.bigint() < this.deadlineNs;
  }
}
