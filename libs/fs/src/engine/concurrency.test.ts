// Goal: reads of one file run side by side while writes, flushes and truncates still see (and
// leave) a consistent file, and the reader/writer lock grants in arrival order. Method: hold the
// in-memory volume's block reads at a gate to count how many reads are inside it at once, race
// reads against truncates and rewrites at every interleaving point, and drive the lock directly.
import { describe, expect, it } from 'vitest';
import { type FileRef, StableHow } from '../api';
import { RwLock } from './mutex';
import { makeFs, owner } from './test-helpers';

const ref = (a: { ino: bigint; generation: number }): FileRef => ({ ino: a.ino, generation: a.generation });

describe('RwLock', () => {
  it('shares among readers, excludes a writer, and queues a reader behind a waiting writer', async () => {
    const l = new RwLock();
    const order: string[] = [];
    const r1 = await l.read();
    const r2 = await l.read();
    const w = l.write().then((rel) => {
      order.push('w');
      return rel;
    });
    const r3 = l.read().then((rel) => {
      order.push('r3');
      return rel;
    });
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    r1();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    r2();
    const wr = await w;
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['w']);
    wr();
    (await r3)();
    expect(order).toEqual(['w', 'r3']);
    expect(l.isBusy).toBe(false);
  });
});

describe('concurrent reads', () => {
  it('let reads of one file wait on the device together', async () => {
    const { fs, volume } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    await fs.write(ref(f.attr), 0n, Buffer.alloc(8 * 4096, 9), StableHow.FILE_SYNC);
    let inside = 0;
    let maxInside = 0;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const orig = volume.readBlocks.bind(volume);
    volume.readBlocks = async (b, buf) => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await gate;
      inside--;
      return orig(b, buf);
    };
    const reads = [0, 1, 2, 3].map((i) => fs.read(ref(f.attr), BigInt(i * 8192), 8192));
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    expect(maxInside).toBe(4);
    open();
    for (const r of await Promise.all(reads)) expect(r.data.equals(Buffer.alloc(8192, 9))).toBe(true);
  });

  it('see a file before or after a racing truncate and rewrite, never a mix', async () => {
    for (let delay = 0; delay < 12; delay++) {
      const { fs } = await makeFs();
      const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
      const fr = ref(f.attr);
      await fs.write(fr, 0n, Buffer.alloc(5 * 4096, 0xaa), StableHow.FILE_SYNC);
      await fs.write(fr, 4096n, Buffer.alloc(4096, 0xab), StableHow.UNSTABLE);
      const expectA = Buffer.alloc(5 * 4096, 0xaa);
      Buffer.alloc(4096, 0xab).copy(expectA, 4096);
      const mutator = (async () => {
        for (let i = 0; i < delay; i++) await Promise.resolve();
        await fs.setattr(fr, { size: 0n });
        await fs.write(fr, 0n, Buffer.alloc(3 * 4096, 0xbb), StableHow.UNSTABLE);
      })();
      const results = await Promise.all([0, 1, 2].map(() => fs.read(fr, 0n, 5 * 4096)));
      await mutator;
      for (const r of results) {
        const ok = r.data.equals(expectA) || r.data.length === 0 || r.data.equals(Buffer.alloc(3 * 4096, 0xbb));
        expect(ok, `delay ${delay}: read ${r.data.length} bytes`).toBe(true);
      }
    }
  });
});
