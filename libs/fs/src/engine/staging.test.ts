// Goal: a scan through a Staging sees the volume as it will be once the transaction is applied.
// Method: random staged puts and deletes over random volume contents; every scan (with and
// without a limit) is compared with the same scan of a copy of the volume the transaction was
// applied to.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryVolume } from '../testing/memory-volume';
import { Staging } from './staging';

const key = (n: number) => Buffer.from([0x04, n]);

async function scanAll(v: MemoryVolume, from: Buffer, to: Buffer, limit?: number): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  await v.scan(from, to, (k, val) => {
    out.push([k.toString('hex'), val.toString('hex')]);
    return limit === undefined || out.length < limit;
  });
  return out;
}

describe('Staging.scan', () => {
  it('merges staged puts and deletes over the volume in key order, honouring the limit', async () => {
    const op = fc.record({ k: fc.integer({ min: 0, max: 40 }), v: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }) });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 25 }),
        fc.array(op, { maxLength: 30 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 41 }), fc.integer({ min: 0, max: 41 }), fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined })), { minLength: 1, maxLength: 8 }),
        async (base, ops, scans) => {
          const vol = new MemoryVolume();
          const after = new MemoryVolume();
          const puts: Array<[Buffer, Buffer]> = base.map((n) => [key(n), Buffer.from([n])]);
          await vol.apply({ puts, dels: [] });
          const st = new Staging(vol);
          for (const o of ops) {
            if (o.v === undefined) st.del(key(o.k));
            else st.put(key(o.k), Buffer.from([o.v, 0xee]));
          }
          const tx = st.toTransaction();
          await after.apply({ puts, dels: [] });
          await after.apply({ puts: tx.puts, dels: tx.dels });
          for (const [a, b, limit] of scans) {
            const got = (await st.scan(key(a), key(b), limit)).map(([k, v]): [string, string] => [k.toString('hex'), v.toString('hex')]);
            expect(got).toEqual(await scanAll(after, key(a), key(b), limit));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
