// Goal: READDIR cookies stay valid while the directory changes, and large directories stay
// cheap. Method: list a directory page by page while other entries are added and removed
// between pages, and check that every entry present throughout is listed exactly once; then fill
// a directory with many entries and check lookups and a resumed listing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeFs, owner } from './test-helpers';

describe('directory cookies', () => {
  it('lists every entry present throughout exactly once despite concurrent changes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 1, max: 17 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 })), { maxLength: 80 }),
        async (initial, pageSize, churn) => {
          const { fs } = await makeFs();
          const stable = new Set<string>();
          for (let i = 0; i < initial; i++) {
            await fs.create(fs.root, `s${i}`, { how: 'unchecked', attrs: {} }, owner);
            stable.add(`s${i}`);
          }
          const present = new Set<string>();
          const counts = new Map<string, number>();
          let cookie = 0n;
          let step = 0;
          for (;;) {
            let taken = 0;
            const res = await fs.readdir(fs.root, cookie, false, (e) => {
              if (taken >= pageSize) return false;
              taken++;
              counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
              cookie = e.cookie;
              return true;
            });
            if (res.eof) break;
            // Between pages, other clients add and remove entries.
            for (let k = 0; k < 3 && step < churn.length; k++, step++) {
              const [add, n] = churn[step]!;
              const name = `t${n}`;
              if (add && !present.has(name)) {
                await fs.create(fs.root, name, { how: 'unchecked', attrs: {} }, owner);
                present.add(name);
              } else if (!add && present.has(name)) {
                await fs.remove(fs.root, name);
                present.delete(name);
              }
            }
          }
          for (const s of stable) expect(counts.get(s)).toBe(1);
          for (const [name, c] of counts) expect(c, name).toBe(1);
          expect(counts.get('.')).toBe(1);
          expect(counts.get('..')).toBe(1);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gives "." and ".." cookies 1 and 2 and resumes after any returned cookie', async () => {
    const { fs } = await makeFs();
    for (let i = 0; i < 10; i++) await fs.create(fs.root, `f${i}`, { how: 'unchecked', attrs: {} }, owner);
    const all: Array<{ name: string; cookie: bigint }> = [];
    await fs.readdir(fs.root, 0n, false, (e) => (all.push(e), true));
    expect(all.slice(0, 2).map((e) => [e.name, e.cookie])).toEqual([
      ['.', 1n],
      ['..', 2n],
    ]);
    for (let i = 0; i < all.length; i++) {
      const rest: string[] = [];
      await fs.readdir(fs.root, all[i]!.cookie, false, (e) => (rest.push(e.name), true));
      expect(rest).toEqual(all.slice(i + 1).map((e) => e.name));
    }
  });

  it('handles a directory of 50,000 entries with fast lookups and resumable listing', async () => {
    const { fs } = await makeFs({ maxBlocks: 1 << 16 });
    const N = 50_000;
    for (let i = 0; i < N; i++) await fs.create(fs.root, `file-${i}`, { how: 'unchecked', attrs: {} }, owner);
    expect((await fs.lookup(fs.root, 'file-37777')).attr.type).toBe(1);
    let n = 0;
    let cookie = 0n;
    for (;;) {
      let page = 0;
      const r = await fs.readdir(fs.root, cookie, false, (e) => {
        if (page === 1000) return false;
        page++;
        n++;
        cookie = e.cookie;
        return true;
      });
      if (r.eof) break;
    }
    expect(n).toBe(N + 2);
  }, 120_000);
});
