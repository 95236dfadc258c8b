// Goal: a Space over many slices on several devices behaves exactly like one flat buffer,
// including I/O that spans slice (and device) boundaries, growth between operations, and reopen.
// Method: fast-check drives random writes, reads and grows against both a Space and a flat
// reference Buffer and compares every read, then reopens the pool and compares the whole space.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MemoryDevice } from './memory-device';
import { Pool } from './pool';

const SLICE = 12 * 1024; // 8 KiB of data per slice: small, so most I/O crosses slices
const DATA = SLICE - 4096;
const FIRST = 8192;
const MAX_SLICES = 9;

type Op = { kind: 'write'; pos: number; len: number; seed: number } | { kind: 'read'; pos: number; len: number } | { kind: 'grow' };

// Positions and lengths are biased to land on and just around slice boundaries, where mapping
// bugs live.
const posArb = fc.oneof(
  fc.nat({ max: MAX_SLICES * DATA }),
  fc.tuple(fc.nat({ max: MAX_SLICES }), fc.integer({ min: -3, max: 3 })).map(([k, d]) => Math.max(0, k * DATA + d)),
);
const lenArb = fc.oneof(
  fc.nat({ max: 3 * DATA }),
  fc.tuple(fc.nat({ max: 2 }), fc.integer({ min: -3, max: 3 })).map(([k, d]) => Math.max(0, k * DATA + d)),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), pos: posArb, len: lenArb, seed: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('read' as const), pos: posArb, len: lenArb }),
  fc.constant({ kind: 'grow' as const }),
);

describe('Space against a flat reference', () => {
  test('random reads, writes and grows match, before and after reopen', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 30, maxLength: 80 }), fc.integer({ min: 1, max: 3 }), async (ops, deviceCount) => {
        const devices = Array.from({ length: deviceCount }, (_, i) => new MemoryDevice(FIRST + 4 * SLICE, `m${i}`));
        const pool = await Pool.createOnDevices(devices, { sliceBytes: SLICE, firstSliceOffsetBytes: FIRST });
        // A neighbour filesystem interleaves its slices with ours; its bytes must never change.
        const neighbour = await pool.createSpace(2n, { maxBytes: 3 * DATA });
        const space = await pool.createSpace(1n, { maxBytes: MAX_SLICES * DATA });
        const ref = Buffer.alloc(MAX_SLICES * DATA);
        let size = DATA;
        for (const op of ops) {
          if (op.kind === 'grow') {
            if (size < MAX_SLICES * DATA && pool.stats().freeSlices > 0) {
              await space.grow();
              size += DATA;
              if (neighbour.sizeBytes < 3 * DATA && pool.stats().freeSlices > 0) await neighbour.grow();
              await neighbour.write(Buffer.alloc(neighbour.sizeBytes, 0xee), 0);
            }
            expect(space.sizeBytes).toBe(size);
            continue;
          }
          const inRange = op.pos + op.len <= size;
          if (op.kind === 'write') {
            const buf = Buffer.alloc(op.len);
            for (let i = 0; i < op.len; i++) buf[i] = (op.seed + i * 7) & 0xff;
            if (!inRange) {
              await expect(space.write(buf, op.pos)).rejects.toThrow(RangeError);
              continue;
            }
            await space.write(buf, op.pos);
            buf.copy(ref, op.pos);
          } else {
            const buf = Buffer.alloc(op.len);
            if (!inRange) {
              await expect(space.read(buf, op.pos)).rejects.toThrow(RangeError);
              continue;
            }
            await space.read(buf, op.pos);
            expect(buf.equals(ref.subarray(op.pos, op.pos + op.len))).toBe(true);
          }
        }
        await space.sync();
        const again = await Pool.openDevices(devices);
        const s2 = await again.openSpace(1n, { maxBytes: MAX_SLICES * DATA });
        expect(s2.sizeBytes).toBe(size);
        const all = Buffer.alloc(size);
        await s2.read(all, 0);
        expect(all.equals(ref.subarray(0, size))).toBe(true);
        const n2 = await again.openSpace(2n, { maxBytes: 3 * DATA });
        const nb = Buffer.alloc(n2.sizeBytes);
        await n2.read(nb, 0);
        expect(nb.every((b) => b === 0xee || b === 0)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  test('sync reaches exactly the devices written since the last sync', async () => {
    const synced: string[] = [];
    class Spy extends MemoryDevice {
      override async sync(): Promise<void> {
        synced.push(this.path);
      }
    }
    const devices = [new Spy(FIRST + 2 * SLICE, 'a'), new Spy(FIRST + 2 * SLICE, 'b')];
    const pool = await Pool.createOnDevices(devices, { sliceBytes: SLICE, firstSliceOffsetBytes: FIRST });
    const s = await pool.createSpace(1n, { maxBytes: 4 * DATA });
    await s.grow(); // slice 0 on a, slice 1 on b
    synced.length = 0;
    await s.write(Buffer.alloc(10), DATA + 5);
    await s.sync();
    expect(synced).toEqual(['b']);
    synced.length = 0;
    await s.sync();
    expect(synced).toEqual([]);
    await s.write(Buffer.alloc(10), DATA - 5); // spans both devices
    await s.sync();
    expect(synced.sort()).toEqual(['a', 'b']);
  });

  test('a durable write reaches every device it spans and leaves none owing a sync, unless it failed', async () => {
    const synced: string[] = [];
    const durable: Array<[string, number, number]> = [];
    const fault: { on?: string } = {};
    class Spy extends MemoryDevice {
      override async sync(): Promise<void> {
        synced.push(this.path);
      }
      override async writeDurable(buf: Buffer, pos: number): Promise<void> {
        if (this.path === fault.on) throw new Error('EIO');
        durable.push([this.path, pos, buf.length]);
        await this.write(buf, pos);
      }
    }
    const devices = [new Spy(FIRST + 2 * SLICE, 'a'), new Spy(FIRST + 2 * SLICE, 'b')];
    const pool = await Pool.createOnDevices(devices, { sliceBytes: SLICE, firstSliceOffsetBytes: FIRST });
    const s = await pool.createSpace(1n, { maxBytes: 4 * DATA });
    await s.grow(); // slice 0 on a, slice 1 on b
    await s.sync();
    synced.length = 0;
    await s.writeDurable(Buffer.alloc(10, 7), DATA - 5); // spans both devices
    expect(durable.map((d) => d[0]).sort()).toEqual(['a', 'b']);
    expect(durable.reduce((n, d) => n + d[2], 0)).toBe(10);
    const back = Buffer.alloc(10);
    await s.read(back, DATA - 5);
    expect(back.every((x) => x === 7)).toBe(true);
    await s.sync();
    expect(synced).toEqual([]);
    // Part of a failed durable write may have reached the device: it is owed a sync.
    fault.on = 'b';
    await expect(s.writeDurable(Buffer.alloc(10), DATA + 5)).rejects.toThrow('EIO');
    await s.sync();
    expect(synced).toEqual(['b']);
  });
});
