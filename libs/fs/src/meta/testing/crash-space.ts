import type { Space } from '@ferry/pool';
import { PoolFullError, seededRandom } from '@ferry/pool';

/** The pool's seeded source (mulberry32), re-exported so meta tests name one place. */
export { seededRandom };
import { MemorySpace } from './memory-space';

/** Seeded bytes, for the volume's `random` option in tests. */
export function seededBytes(seed: number): (n: number) => Buffer {
  const r = seededRandom(seed);
  return (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
    return b;
  };
}

export class InjectedIoError extends Error {
  readonly code = 'EIO';
  constructor(what: string) {
    super(`EIO: injected ${what} failure`);
    this.name = 'InjectedIoError';
  }
}

/**
 * A Space that remembers which writes a sync has covered, so a test can cut the power.
 *
 * Model: `durable` is what survives a crash; every write lands in the volatile image at once
 * (reads see it) and is queued; `sync()` makes every queued write durable. A `writeDurable`
 * is queued like a write while in flight (it may be dropped or torn) and is durable once it
 * resolves, without making any other queued write durable; it stays queued, marked, behind
 * older volatile writes so that a crash image, which replays the queue in order, never lets an
 * older write come back over it. `crash(random)` returns a new MemorySpace of the durable image
 * plus each volatile queued write kept whole, dropped, or torn (a prefix of whole 512-byte
 * sectors), chosen by the injected random source. Faults: the Nth write (durable ones
 * included), durable write or sync (1-based, counted from construction) throws EIO and
 * changes nothing;
 * `onSync` and `onDurable` let a test crash exactly at a sync or durable-write boundary.
 */
/** Event-loop turns a sync takes before it takes effect. */
const SYNC_TURNS = 4;

export class CrashSpace implements Space {
  private readonly live: MemorySpace;
  private readonly durable: Buffer[];
  private queued: Array<{ pos: number; data: Buffer; durable: boolean }> = [];
  writeCount = 0;
  syncCount = 0;
  /** writeDurable calls so far (also counted in writeCount). */
  durableCount = 0;
  failWriteAt = 0;
  failSyncAt = 0;
  /** The Nth durable write (1-based, counted in durableCount) throws EIO and changes nothing. */
  failDurableAt = 0;
  /** Called before each sync takes effect, with its 1-based number. */
  onSync: ((n: number) => void) | undefined;
  /** Called before each write lands, with its 1-based number (durable writes included). */
  onWrite: ((n: number) => void) | undefined;
  /**
   * Called twice for each durable write with its 1-based number in durableCount: while it is in
   * flight (queued, not yet durable: `done` false), and once it is durable, just before it resolves.
   */
  onDurable: ((n: number, done: boolean) => void) | undefined;

  constructor(
    readonly sliceDataBytes: number,
    initialSlices = 1,
    readonly maxSlices = Number.MAX_SAFE_INTEGER,
  ) {
    this.live = new MemorySpace(sliceDataBytes, initialSlices, maxSlices);
    this.durable = this.live.slices.map((s) => Buffer.from(s));
  }

  /** A CrashSpace whose durable and live images are copies of `image`. */
  static fromImage(image: MemorySpace): CrashSpace {
    const c = new CrashSpace(image.sliceDataBytes, 0, image.maxSlices);
    for (const s of image.slices) {
      c.live.slices.push(Buffer.from(s));
      c.durable.push(Buffer.from(s));
    }
    return c;
  }

  get sizeBytes(): number {
    return this.live.sizeBytes;
  }

  get bytesRead(): number {
    return this.live.bytesRead;
  }

  /** Volatile writes a crash may lose (resolved durable writes are not counted). */
  get pendingWrites(): number {
    return this.queued.filter((w) => !w.durable).length;
  }

  read(buf: Buffer, pos: number): Promise<void> {
    return this.live.read(buf, pos);
  }

  async write(buf: Buffer, pos: number): Promise<void> {
    this.writeCount++;
    if (this.writeCount === this.failWriteAt) throw new InjectedIoError(`write #${this.writeCount}`);
    this.onWrite?.(this.writeCount);
    await this.live.write(buf, pos);
    this.queued.push({ pos, data: Buffer.from(buf), durable: false });
  }

  async writeDurable(buf: Buffer, pos: number): Promise<void> {
    this.writeCount++;
    const n = ++this.durableCount;
    if (this.writeCount === this.failWriteAt) throw new InjectedIoError(`durable write #${this.writeCount}`);
    if (n === this.failDurableAt) throw new InjectedIoError(`durable write #${n} of the durable ones`);
    this.onWrite?.(this.writeCount);
    await this.live.write(buf, pos);
    const w = { pos, data: Buffer.from(buf), durable: false };
    this.queued.push(w);
    this.onDurable?.(n, false);
    await Promise.resolve(); // in flight
    if (this.queued.includes(w)) {
      writeInto(this.durableImage(), w.pos, w.data);
      w.durable = true;
      this.dropLeadingDurable();
    } // else a sync meanwhile made it durable already
    this.onDurable?.(n, true);
  }

  /**
   * Covers the writes that completed before the call. It takes a few turns of the event loop
   * before it takes effect, so a durable write issued alongside it can complete first, as on a
   * real device.
   */
  async sync(): Promise<void> {
    const n = ++this.syncCount;
    if (n === this.failSyncAt) throw new InjectedIoError(`sync #${n}`);
    const covered = new Set(this.queued);
    for (let i = 0; i < SYNC_TURNS; i++) await Promise.resolve();
    this.onSync?.(n);
    const img = this.durableImage();
    const rest: typeof this.queued = [];
    for (const w of this.queued) {
      if (covered.has(w)) writeInto(img, w.pos, w.data);
      else rest.push(w);
    }
    // A newer durable write wins over the older writes just made durable.
    for (const w of rest) if (w.durable) writeInto(img, w.pos, w.data);
    this.queued = rest;
    this.dropLeadingDurable();
  }

  /** A durable write needs to stay queued only behind an older volatile write. */
  private dropLeadingDurable(): void {
    let i = 0;
    while (i < this.queued.length && this.queued[i]!.durable) i++;
    if (i > 0) this.queued = this.queued.slice(i);
  }

  async grow(): Promise<void> {
    if (this.live.slices.length >= this.maxSlices) throw new PoolFullError();
    await this.live.grow();
    this.durable.push(Buffer.alloc(this.sliceDataBytes)); // the pool records a slice durably
  }

  private durableImage(): MemorySpace {
    const m = new MemorySpace(this.sliceDataBytes, 0, this.maxSlices);
    m.slices.push(...this.durable);
    return m;
  }

  /**
   * The space after a power cut now, each queued write's fate chosen by `fate` from its
   * position and length: 'keep', 'drop', or the number of bytes kept (whole sectors: a tear).
   */
  crashWith(fate: (pos: number, bytes: number) => 'keep' | 'drop' | number): MemorySpace {
    const img = new MemorySpace(this.sliceDataBytes, 0, this.maxSlices);
    for (const s of this.durable) img.slices.push(Buffer.from(s));
    for (const w of this.queued) {
      if (w.durable) {
        writeInto(img, w.pos, w.data);
        continue;
      }
      const f = fate(w.pos, w.data.length);
      if (f === 'drop') continue;
      const keep = f === 'keep' ? w.data.length : Math.min(w.data.length, Math.floor(f / 512) * 512);
      if (keep > 0) writeInto(img, w.pos, w.data.subarray(0, keep));
    }
    return img;
  }

  /** The space after a power cut now: durable bytes plus a random fate for each queued write. */
  crash(random: () => number): MemorySpace {
    const img = new MemorySpace(this.sliceDataBytes, 0, this.maxSlices);
    for (const s of this.durable) img.slices.push(Buffer.from(s));
    for (const w of this.queued) {
      if (w.durable) {
        writeInto(img, w.pos, w.data);
        continue;
      }
      const r = random();
      if (r < 1 / 3) continue; // dropped
      if (r < 2 / 3) {
        writeInto(img, w.pos, w.data);
        continue;
      }
      const sectors = Math.floor(w.data.length / 512);
      const keep = Math.floor(random() * (sectors + 1)) * 512;
      if (keep > 0) writeInto(img, w.pos, w.data.subarray(0, keep));
    }
    return img;
  }
}

function writeInto(img: MemorySpace, pos: number, data: Buffer): void {
  let done = 0;
  while (done < data.length) {
    const at = pos + done;
    const si = Math.floor(at / img.sliceDataBytes);
    const off = at % img.sliceDataBytes;
    const n = Math.min(data.length - done, img.sliceDataBytes - off);
    data.copy(img.slices[si]!, off, done, done + n);
    done += n;
  }
}
