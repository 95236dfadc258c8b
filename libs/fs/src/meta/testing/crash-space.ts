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
 * (reads see it) and is queued; `sync()` makes every queued write durable. `crash(random)`
 * returns a new MemorySpace of the durable image plus each queued write kept whole, dropped,
 * or torn (a prefix of whole 512-byte sectors), chosen by the injected random source. Faults:
 * the Nth write or sync (1-based, counted from construction) throws EIO and changes nothing;
 * `onSync` lets a test crash exactly at a sync boundary.
 */
export class CrashSpace implements Space {
  private readonly live: MemorySpace;
  private readonly durable: Buffer[];
  private queued: Array<{ pos: number; data: Buffer }> = [];
  writeCount = 0;
  syncCount = 0;
  failWriteAt = 0;
  failSyncAt = 0;
  /** Called before each sync takes effect, with its 1-based number. */
  onSync: ((n: number) => void) | undefined;
  /** Called before each write lands, with its 1-based number. */
  onWrite: ((n: number) => void) | undefined;

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

  get pendingWrites(): number {
    return this.queued.length;
  }

  read(buf: Buffer, pos: number): Promise<void> {
    return this.live.read(buf, pos);
  }

  async write(buf: Buffer, pos: number): Promise<void> {
    this.writeCount++;
    if (this.writeCount === this.failWriteAt) throw new InjectedIoError(`write #${this.writeCount}`);
    this.onWrite?.(this.writeCount);
    await this.live.write(buf, pos);
    this.queued.push({ pos, data: Buffer.from(buf) });
  }

  async sync(): Promise<void> {
    this.syncCount++;
    if (this.syncCount === this.failSyncAt) throw new InjectedIoError(`sync #${this.syncCount}`);
    this.onSync?.(this.syncCount);
    const img = this.durableImage();
    for (const w of this.queued) writeInto(img, w.pos, w.data);
    this.queued = [];
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
