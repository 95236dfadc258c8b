/**
 * Goal: the read-buffer pool never hands one buffer to two holders, keeps only what it may,
 * and ignores a buffer given back twice or not its own.
 * Method: direct calls, then a fast-check run of takes and gives checked against a model of
 * which buffers are out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReadBuffers } from './read-buffers';

const K64 = 64 * 1024;

describe('ReadBuffers', () => {
  it('hands a given-back buffer out again, for the same size only', () => {
    const p = new ReadBuffers(4 * 1024 * 1024);
    const a = p.take(1024 * 1024);
    expect(a.length).toBe(1024 * 1024);
    p.give(a);
    expect(p.idle).toBe(1024 * 1024);
    const other = p.take(512 * 1024);
    expect(other).not.toBe(a);
    expect(p.take(1024 * 1024)).toBe(a);
    expect(p.idle).toBe(0);
  });

  it('ignores a second give, a buffer it did not hand out, small sizes and anything over the budget', () => {
    const p = new ReadBuffers(2 * K64);
    const a = p.take(K64);
    p.give(a);
    p.give(a);
    expect(p.idle).toBe(K64);
    p.give(Buffer.alloc(K64));
    expect(p.idle).toBe(K64);
    const small = p.take(4096);
    p.give(small);
    expect(p.idle).toBe(K64);
    const b = p.take(K64); // a again
    expect(b).toBe(a);
    const c = p.take(K64);
    const d = p.take(K64);
    const e = p.take(K64);
    for (const x of [b, c, d, e]) p.give(x);
    expect(p.idle).toBe(2 * K64);
  });

  it('never has one buffer out twice', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ take: fc.constantFrom(K64, 2 * K64, 4096) }), fc.record({ give: fc.nat(), twice: fc.boolean() })), { maxLength: 200 }),
        (ops) => {
          const p = new ReadBuffers(4 * K64);
          const out: Buffer[] = [];
          for (const op of ops) {
            if ('take' in op) {
              const b = p.take(op.take);
              expect(b.length).toBe(op.take);
              expect(out.includes(b)).toBe(false);
              out.push(b);
            } else if (out.length > 0) {
              const [b] = out.splice(op.give % out.length, 1);
              p.give(b!);
              if (op.twice) p.give(b!);
            }
            expect(p.idle).toBeLessThanOrEqual(4 * K64);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
