/**
 * Buffers for large reads, used again once their reader is done with them.
 *
 * A sequential reader at 1 MiB per READ made the engine allocate a fresh 1 MiB buffer per call.
 * With 32 calls in flight that is a new 32 MiB working set every few milliseconds, out of every
 * CPU cache, and enough outside-heap memory to start a full garbage collection every ~60 ms.
 * Buffers given back after the reply has left are taken again by the next reads instead.
 *
 * Invariants:
 * - A buffer is in a free list only after `give`, and `take` removes it, so no buffer is handed
 *   to two holders at once. The one who gives a buffer back must not touch it afterwards: the
 *   engine hands that duty to its reader as `ReadResult.release`, once per result.
 * - A buffer never given back is simply collected: forgetting `release` costs an allocation,
 *   never a wrong byte.
 * - At most `maxIdleBytes` wait in the free lists; sizes below `minBytes` are not kept (a fresh
 *   small buffer costs little, and they would crowd out the large ones).
 */
export class ReadBuffers {
  private readonly free = new Map<number, Buffer[]>();
  private idleBytes = 0;
  /** Buffers handed out by take() and not yet given back: give() accepts only these. */
  private readonly out = new WeakSet<Buffer>();

  constructor(
    readonly maxIdleBytes: number,
    readonly minBytes = 64 * 1024,
  ) {}

  /**
   * A buffer of exactly `bytes` bytes, contents undefined: one given back if there is one, else
   * a new one of its own memory (never a slice of Node's shared pool, whose other slices belong
   * to others).
   */
  take(bytes: number): Buffer {
    if (bytes < this.minBytes) return Buffer.allocUnsafe(bytes);
    let b = this.free.get(bytes)?.pop();
    if (b !== undefined) this.idleBytes -= bytes;
    else b = Buffer.allocUnsafeSlow(bytes);
    this.out.add(b);
    return b;
  }

  /**
   * Back into the free lists: only a buffer take() handed out and not given back since (a
   * second give, or a buffer of someone else, is ignored), and only while under maxIdleBytes.
   */
  give(b: Buffer): void {
    if (!this.out.has(b)) return;
    this.out.delete(b);
    if (this.idleBytes + b.length > this.maxIdleBytes) return;
    let list = this.free.get(b.length);
    if (list === undefined) this.free.set(b.length, (list = []));
    list.push(b);
    this.idleBytes += b.length;
  }

  /** Bytes waiting in the free lists (tests, stats). */
  get idle(): number {
    return this.idleBytes;
  }
}
