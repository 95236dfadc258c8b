// Goal: the volume behaves as an ordered map under any sequence of transactions, checkpoints
// and reopenings. Method: fast-check generates random operation sequences (batched puts and
// dels with large values to force splits and merges, gets, range scans, checkpoints, reopen)
// run against the volume with a tiny page cache and against a sorted Map reference.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatVolume, openVolume, type MetaVolume } from './meta-volume';
import { MemorySpace } from './testing/memory-space';
import { verifyVolume } from './verify';

type Op =
  | { t: 'tx'; puts: Array<[number[], number]>; dels: number[][] }
  | { t: 'get'; k: number[] }
  | { t: 'scan'; from: number[]; to: number[] | null; limit: number }
  | { t: 'checkpoint' }
  | { t: 'reopen' };

const keyArb = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 6 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant('tx' as const), puts: fc.array(fc.tuple(keyArb, fc.integer({ min: 0, max: 3000 })), { maxLength: 12 }), dels: fc.array(keyArb, { maxLength: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('get' as const), k: keyArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('scan' as const), from: keyArb, to: fc.option(keyArb), limit: fc.integer({ min: 1, max: 50 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
);

const hex = (b: Buffer): string => b.toString('hex');
const val = (k: Buffer, n: number): Buffer => {
  const v = Buffer.alloc(n);
  for (let i = 0; i < n; i++) v[i] = (k.length * 31 + n + i) & 255;
  return v;
};

async function run(ops: Op[]): Promise<void> {
  const space = new MemorySpace(4 * 1024 * 1024, 2, 8);
  await formatVolume(space, { volumeId: 1n, maxBytes: 32 * 1024 * 1024 });
  let vol: MetaVolume = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
  const model = new Map<string, Buffer>();
  for (const op of ops) {
    if (op.t === 'tx') {
      const puts: Array<[Buffer, Buffer]> = op.puts.map(([k, n]) => [Buffer.from(k), val(Buffer.from(k), n)]);
      const dels = op.dels.map((k) => Buffer.from(k));
      await vol.apply({ puts, dels });
      for (const k of dels) model.delete(hex(k));
      for (const [k, v] of puts) model.set(hex(k), v);
    } else if (op.t === 'get') {
      const got = await vol.get(Buffer.from(op.k));
      expect(got?.toString('hex')).toBe(model.get(hex(Buffer.from(op.k)))?.toString('hex'));
    } else if (op.t === 'scan') {
      const from = Buffer.from(op.from);
      const to = op.to ? Buffer.from(op.to) : undefined;
      const got: string[] = [];
      await vol.scan(from, to, (k, v) => {
        got.push(`${hex(k)}=${v.length}`);
        return got.length < op.limit;
      });
      const want = [...model.keys()]
        .map((k) => Buffer.from(k, 'hex'))
        .filter((k) => k.compare(from) >= 0 && (!to || k.compare(to) < 0))
        .sort(Buffer.compare)
        .slice(0, op.limit)
        .map((k) => `${hex(k)}=${model.get(hex(k))!.length}`);
      expect(got).toEqual(want);
    } else if (op.t === 'checkpoint') {
      await vol.checkpoint();
    } else {
      await vol.close();
      vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    }
  }
  // Everything, in order, after a final reopen; then the offline check.
  await vol.close();
  vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
  const all: string[] = [];
  await vol.scan(Buffer.alloc(0), undefined, (k, v) => (all.push(`${hex(k)}=${hex(v)}`), true));
  const want = [...model.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'))).map((k) => `${k}=${hex(model.get(k)!)}`);
  expect(all).toEqual(want);
  await vol.close();
  const report = await verifyVolume(space);
  expect(report.errors).toEqual([]);
  expect(report.keys).toBe(model.size);
}

describe('volume vs sorted Map', () => {
  it('random operation sequences', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), run), { numRuns: 60 });
  });

  it('a large tree with many splits, merges and evictions', async () => {
    const ops: Op[] = [];
    for (let i = 0; i < 400; i++) {
      const k = (j: number): number[] => [j % 6, (j >> 3) % 6, (j >> 6) % 6, j % 5, (j >> 2) % 6];
      ops.push({ t: 'tx', puts: Array.from({ length: 8 }, (_, j) => [k(i * 8 + j), (i * 37 + j * 101) % 2500] as [number[], number]), dels: i % 3 === 0 ? [k(i * 4)] : [] });
      if (i % 50 === 49) ops.push({ t: 'reopen' });
      if (i % 70 === 69) ops.push({ t: 'checkpoint' });
      if (i % 10 === 0) ops.push({ t: 'scan', from: k(i), to: null, limit: 30 });
    }
    for (let i = 0; i < 2000; i += 3) ops.push({ t: 'tx', puts: [], dels: [[i % 6, (i >> 3) % 6, (i >> 6) % 6, i % 5, (i >> 2) % 6]] });
    await run(ops);
  });
});

describe('transactions over pages not in memory', () => {
  it('emptying a leaf whose neighbour is not cached keeps the whole transaction applicable', async () => {
    const space = new MemorySpace(4 * 1024 * 1024, 2, 8);
    await formatVolume(space, { volumeId: 1n, maxBytes: 32 * 1024 * 1024 });
    let vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    const key = (i: number): Buffer => Buffer.from(`k${String(i).padStart(3, '0')}`);
    for (let i = 0; i < 100; i++) await vol.apply({ puts: [[key(i), Buffer.alloc(1500, i)]], dels: [] });
    await vol.close();
    // Fresh cache: load the root and the first leaf only, and learn that leaf's keys.
    vol = await openVolume(space, { cachePages: 16, checkpointIntervalMs: 0 });
    await vol.get(key(0));
    const first: Buffer[] = [];
    const upper = vol.internals.tree.scanStep(key(0), undefined, (k) => (first.push(k), true));
    expect(Buffer.isBuffer(upper)).toBe(true);
    expect(first.length).toBeGreaterThan(0);
    expect(vol.cachedPages).toBe(2);
    // One transaction: empty that leaf, then put a key of its range.
    const inRange = Buffer.concat([key(0), Buffer.from('x')]);
    await vol.apply({ puts: [[inRange, Buffer.from('new')]], dels: first });
    expect(await vol.get(inRange)).toEqual(Buffer.from('new'));
    for (const k of first) expect(await vol.get(k)).toBeUndefined();
    let n = 0;
    await vol.scan(Buffer.alloc(0), undefined, () => (n++, true));
    expect(n).toBe(100 - first.length + 1);
    await vol.close();
    expect((await verifyVolume(space)).errors).toEqual([]);
  });
});
