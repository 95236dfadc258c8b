// Goal: the run buffer holds exactly the bytes written (runs never overlap, counts stay exact),
// never changes memory a flush is writing, and the engine keeps serving writes and reads while
// a flush's device writes are outstanding, ending with the newest data even across a truncate.
// Method: fast-check drives WriteBuffer against a byte-array model with random writes, drops
// and flush selections; engine tests hold the in-memory volume's block writes at a gate.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FileRef, StableHow } from '../api';
import { checkFileSystem } from '../fsck/check';
import type { Engine } from './file-system';
import { BLOCK_BYTES } from './layout';
import { makeFs, owner } from './test-helpers';
import { CHUNK_BLOCKS, WriteBuffer } from './write-buffer';

const ref = (a: { ino: bigint; generation: number }): FileRef => ({ ino: a.ino, generation: a.generation });
const SPAN_BLOCKS = CHUNK_BLOCKS * 3;

type Cmd =
  | { k: 'write'; off: number; len: number; fill: number }
  | { k: 'drop'; from: number; to: number }
  | { k: 'flushStart'; max: number }
  | { k: 'flushEnd' };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('write' as const), off: fc.integer({ min: 0, max: SPAN_BLOCKS * BLOCK_BYTES - 1 }), len: fc.integer({ min: 1, max: 300_000 }), fill: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('drop' as const), from: fc.integer({ min: 0, max: SPAN_BLOCKS }), to: fc.integer({ min: 0, max: SPAN_BLOCKS + 10 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('flushStart' as const), max: fc.integer({ min: 1, max: 600 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('flushEnd' as const) }) },
);

describe('WriteBuffer', () => {
  it('matches a byte model and never changes memory being flushed', () => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 40 }), (cmds) => {
        const wb = new WriteBuffer();
        const total = (SPAN_BLOCKS + 80) * BLOCK_BYTES;
        const model = Buffer.alloc(total);
        const present = new Uint8Array(total / BLOCK_BYTES);
        // What an unbuffered partial block reads as: a pattern distinct from any fill.
        const edge = (b: number): Buffer => Buffer.alloc(BLOCK_BYTES, (b % 200) + 256 - 200 - 1);
        let inFlight: Array<{ buf: Buffer; copy: Buffer }> = [];
        for (const c of cmds) {
          if (c.k === 'write') {
            const end = c.off + c.len;
            const first = Math.floor(c.off / BLOCK_BYTES);
            const last = Math.floor((end - 1) / BLOCK_BYTES);
            for (let b = first; b <= last; b++) {
              if (!present[b]) {
                edge(b).copy(model, b * BLOCK_BYTES);
                present[b] = 1;
              }
            }
            model.fill(c.fill, c.off, end);
            wb.write(c.off, Buffer.alloc(c.len, c.fill), edge);
          } else if (c.k === 'drop') {
            wb.drop(c.from, c.to);
            for (let b = c.from; b < c.to && b < present.length; b++) present[b] = 0;
          } else if (c.k === 'flushStart') {
            for (const r of wb.select(c.max, wb.nextSeq)) {
              wb.flushing.add(r.buf.buffer);
              inFlight.push({ buf: r.buf, copy: Buffer.from(r.buf) });
            }
          } else {
            for (const f of inFlight) expect(f.buf.equals(f.copy)).toBe(true);
            inFlight = [];
            wb.flushing.clear();
          }
        }
        for (const f of inFlight) expect(f.buf.equals(f.copy)).toBe(true);
        let count = 0;
        const out = Buffer.alloc(total);
        wb.overlay(0, total / BLOCK_BYTES, out);
        for (let b = 0; b < present.length; b++) {
          const r = wb.covering(b);
          expect(!!r).toBe(!!present[b]);
          if (!present[b]) continue;
          count++;
          expect(out.subarray(b * BLOCK_BYTES, (b + 1) * BLOCK_BYTES).equals(model.subarray(b * BLOCK_BYTES, (b + 1) * BLOCK_BYTES))).toBe(true);
        }
        expect(wb.blockCount).toBe(count);
        const all = wb.select(Infinity, Infinity);
        expect(all.reduce((a, r) => a + r.count, 0)).toBe(count);
        for (let i = 1; i < all.length; i++) expect(all[i]!.fileBlock).toBeGreaterThanOrEqual(all[i - 1]!.fileBlock + all[i - 1]!.count);
        for (const r of all) expect(Math.floor(r.fileBlock / CHUNK_BLOCKS)).toBe(Math.floor((r.fileBlock + r.count - 1) / CHUNK_BLOCKS));
      }),
      { numRuns: 150 },
    );
  });

  it('makes one run of a chunk-aligned 1 MiB write', () => {
    const wb = new WriteBuffer();
    wb.write(CHUNK_BLOCKS * BLOCK_BYTES, Buffer.alloc(CHUNK_BLOCKS * BLOCK_BYTES, 1), () => {
      throw new Error('no partial block');
    });
    expect(wb.select(Infinity, Infinity).map((r) => [r.fileBlock, r.count])).toEqual([[CHUNK_BLOCKS, CHUNK_BLOCKS]]);
  });
});

describe('flush beside writes and reads', () => {
  it('lets writes and reads of the file proceed while its flush writes, and keeps the newest data', async () => {
    const { fs, volume } = await makeFs();
    const engine = fs as unknown as Engine;
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const fr = ref(f.attr);
    await fs.write(fr, 0n, Buffer.alloc(64 * 1024, 1), StableHow.UNSTABLE);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let held = 0;
    const orig = volume.writeBlocks.bind(volume);
    volume.writeBlocks = async (b, d) => {
      held++;
      await gate;
      return orig(b, d);
    };
    const commit = fs.commit(fr, 0n, 0);
    for (let i = 0; i < 5 && held === 0; i++) await new Promise((r) => setImmediate(r));
    expect(held).toBeGreaterThan(0);
    // The flush is inside its device write: this WRITE and READ must not wait for it.
    await fs.write(fr, 4096n, Buffer.alloc(4096, 2), StableHow.UNSTABLE);
    const mid = await fs.read(fr, 0n, 3 * 4096);
    expect(mid.data.subarray(4096, 8192).equals(Buffer.alloc(4096, 2))).toBe(true);
    expect(mid.data.subarray(0, 4096).equals(Buffer.alloc(4096, 1))).toBe(true);
    open();
    await commit;
    volume.writeBlocks = orig;
    const after = await fs.read(fr, 0n, 64 * 1024);
    const want = Buffer.alloc(64 * 1024, 1);
    want.fill(2, 4096, 8192);
    expect(after.data.equals(want)).toBe(true);
    await fs.flush();
    expect(engine.bufferedBlockCount).toBe(0);
    expect((await fs.read(fr, 0n, 64 * 1024)).data.equals(want)).toBe(true);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('does not apply a flush that a truncate overtook', async () => {
    const { fs, volume } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const fr = ref(f.attr);
    await fs.write(fr, 0n, Buffer.alloc(10 * 4096, 7), StableHow.UNSTABLE);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let held = 0;
    const orig = volume.writeBlocks.bind(volume);
    volume.writeBlocks = async (b, d) => {
      held++;
      if (held === 1) await gate;
      return orig(b, d);
    };
    const commit = fs.commit(fr, 0n, 0);
    for (let i = 0; i < 5 && held === 0; i++) await new Promise((r) => setImmediate(r));
    expect(held).toBe(1);
    await fs.setattr(fr, { size: 4096n + 100n });
    await fs.setattr(fr, { size: 10n * 4096n });
    open();
    await commit;
    const d = (await fs.read(fr, 0n, 10 * 4096)).data;
    const want = Buffer.alloc(10 * 4096);
    want.fill(7, 0, 4096 + 100);
    expect(d.equals(want)).toBe(true);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });
});
