/**
 * Goal: ownership is safe and placement converges.
 * - place(): every filesystem ends on a healthy active mover; loads differ by at most one once
 *   settled; a draining or dead mover is emptied; at most one rebalancing move at a time.
 * - LeaseStore on the real PostgreSQL: only the assigned mover acquires, never before the old
 *   lease ran out (plus grace), each acquisition bumps the epoch, a holder learns on renewal that
 *   it lost the lease, release frees at once, serving needs the current epoch; usage figures ride
 *   on renewals, only under the lease held, and count as current only from the serving owner.
 * - PlacementController: one leader among several; assigns, fails over a mover whose heartbeat
 *   stopped, drains.
 */
import fc from 'fast-check';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDataSource, runMigrations } from '../data-source';
import { createTestDatabase, type TestDatabase } from '../testing/test-database';
import { PgPoolCoordinator, PlacementController, dedicatedConnection } from './controller';
import { LeaseStore, pgPool, type Queryable } from './lease-store';
import { reportedUsage, reportedUsages } from './usage';
import { place, type LeaseView, type MoverView } from './placement';

const silent = { info: () => undefined, warn: () => undefined };

describe('place()', () => {
  const mover = (id: string, healthy = true, state = 'active'): MoverView => ({ id, name: id, state, healthy });

  /** Applies placements, with movers taking what they are given at once, until nothing changes. */
  function settle(movers: MoverView[], leases: LeaseView[]): { leases: LeaseView[]; rounds: number; maxMovesPerRound: number } {
    let maxMoves = 0;
    for (let round = 1; round <= 200; round++) {
      const plan = place(movers, leases);
      const moves = plan.changes.filter((c) => c.reason === 'rebalance').length;
      maxMoves = Math.max(maxMoves, moves);
      if (plan.changes.length === 0) return { leases, rounds: round, maxMovesPerRound: maxMoves };
      for (const c of plan.changes) {
        const l = leases.find((x) => x.fsid === c.fsid)!;
        l.assignedMoverId = c.to;
        l.ownerMoverId = c.to;
        l.serving = true;
      }
    }
    throw new Error('placement did not settle in 200 rounds');
  }

  it('spreads, fills a joining mover, empties dead and draining ones (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.array(fc.record({ healthy: fc.boolean(), state: fc.constantFrom('active', 'active', 'draining', 'drained') }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 30 }),
        (nfs, ms, initial) => {
          const movers = ms.map((m, i) => mover(`m${i}`, m.healthy, m.state));
          const leases: LeaseView[] = Array.from({ length: nfs }, (_, i) => {
            const k = initial[i] ?? -1;
            const a = k >= 0 && k < movers.length ? movers[k]!.id : null;
            return { fsid: BigInt(i + 1), assignedMoverId: a, ownerMoverId: a, serving: a !== null };
          });
          const { leases: end, maxMovesPerRound } = settle(movers, leases);
          expect(maxMovesPerRound).toBeLessThanOrEqual(1);
          const candidates = movers.filter((m) => m.healthy && m.state === 'active');
          if (candidates.length === 0) return;
          const load = new Map(candidates.map((m) => [m.id, 0]));
          for (const l of end) {
            expect(load.has(l.assignedMoverId!)).toBe(true);
            load.set(l.assignedMoverId!, load.get(l.assignedMoverId!)! + 1);
          }
          const counts = [...load.values()];
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('waits for a move in flight before the next rebalancing move', () => {
    const movers = [mover('a'), mover('b')];
    const leases: LeaseView[] = [1n, 2n, 3n, 4n].map((fsid) => ({ fsid, assignedMoverId: 'a', ownerMoverId: 'a', serving: true }));
    const first = place(movers, leases);
    expect(first.changes).toEqual([{ fsid: 4n, from: 'a', to: 'b', reason: 'rebalance' }]);
    leases[3]!.assignedMoverId = 'b'; // assigned, not yet taken over
    expect(place(movers, leases).changes).toEqual([]);
    leases[3]!.ownerMoverId = 'b';
    leases[3]!.serving = true;
    expect(place(movers, leases).changes).toEqual([{ fsid: 3n, from: 'a', to: 'b', reason: 'rebalance' }]);
  });

  it('reports a draining mover drained only when it holds nothing', () => {
    const movers = [mover('a', true, 'draining'), mover('b')];
    const leases: LeaseView[] = [{ fsid: 1n, assignedMoverId: 'a', ownerMoverId: 'a', serving: true }];
    const plan = place(movers, leases);
    expect(plan.changes).toEqual([{ fsid: 1n, from: 'a', to: 'b', reason: 'mover-draining' }]);
    expect(plan.drained).toEqual([]); // still the holder
    leases[0] = { fsid: 1n, assignedMoverId: 'b', ownerMoverId: 'b', serving: true };
    expect(place(movers, leases).drained).toEqual(['a']);
  });
});

describe('leases and the controller on PostgreSQL', () => {
  let db: TestDatabase;
  let schema: DataSource;
  let ds: Queryable & { end(): Promise<void> };
  let fsid = 100;

  beforeAll(async () => {
    db = await createTestDatabase();
    schema = createDataSource({ url: db.url });
    await runMigrations(schema);
    ds = await pgPool(db.url);
  });
  afterAll(async () => {
    await ds?.end();
    await schema?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await ds.query(`DELETE FROM fs_leases`);
    await ds.query(`DELETE FROM filesystems`);
    await ds.query(`DELETE FROM movers`);
    await ds.query(`DELETE FROM pools`);
  });

  async function filesystem(): Promise<bigint> {
    const [pool] = await ds.query(`INSERT INTO pools (name, slice_bytes) VALUES ($1, 268435456) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`, ['p']);
    const id = BigInt(++fsid);
    await ds.query(`INSERT INTO filesystems (name, fsid, pool_id, size_bytes, state) VALUES ($1, $2, $3, 1073741824, 'ready')`, [`fs${id}`, id.toString(), pool.id]);
    return id;
  }
  const assign = (id: bigint, mover: string | null) => ds.query(`UPDATE fs_leases SET assigned_mover_id = $2 WHERE fsid = $1`, [id.toString(), mover]);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('a mover restarted under its name renews only the leases it acquired, so its predecessor\'s run out and it takes them again', async () => {
    const store = new LeaseStore(ds, { leaseMs: 300, graceMs: 100 });
    const a = await store.registerMover({ name: 'a', address: '127.0.0.1', nfsPort: 1, httpPort: 2 });
    const id = await filesystem();
    const other = await filesystem();
    await ds.query(`INSERT INTO fs_leases (filesystem_id, fsid) SELECT id, fsid FROM filesystems`);
    await assign(id, a);
    await assign(other, a);
    const e1 = (await store.acquire(a, id))!;
    const o1 = (await store.acquire(a, other))!;
    expect(await store.setServing(a, id, e1, true)).toBe(true);
    // The process dies; the next one registers under the same name: same id, holding nothing.
    expect(await store.registerMover({ name: 'a', address: '127.0.0.1', nfsPort: 1, httpPort: 2 })).toBe(a);
    const t0 = Date.now();
    while (Date.now() - t0 < 450) {
      const t = await store.tick(a, []);
      expect(t.held).toEqual([]); // the predecessor's leases are not renewed
      await sleep(50);
    }
    const t = await store.tick(a, [{ fsid: other, epoch: o1 }]); // (a lease of its own would be)
    expect(t.held).toEqual([{ fsid: other, epoch: o1 }]);
    expect(t.assigned.find((x) => x.fsid === id)).toMatchObject({ ownerMoverId: a, takeable: true });
    expect(await store.acquire(a, id)).toBe(e1 + 1n);
    // Naming a lease with an old epoch renews nothing.
    expect((await store.tick(a, [{ fsid: id, epoch: e1 }])).held).toEqual([]);
  });

  it('acquire, renew, lose, release: the rules of the lease', async () => {
    const store = new LeaseStore(ds, { leaseMs: 300, graceMs: 100 });
    const a = await store.registerMover({ name: 'a', address: '127.0.0.1', nfsPort: 1, httpPort: 2 });
    const b = await store.registerMover({ name: 'b', address: '127.0.0.1', nfsPort: 3, httpPort: 4 });
    const id = await filesystem();
    await ds.query(`INSERT INTO fs_leases (filesystem_id, fsid) SELECT id, fsid FROM filesystems`);
    expect(await store.acquire(a, id)).toBeUndefined(); // not assigned to a
    await assign(id, a);
    const e1 = await store.acquire(a, id);
    expect(e1).toBe(1n);
    expect(await store.setServing(a, id, e1!, true)).toBe(true);
    // The controller moves it to b while a is alive: b may not take it before a's lease runs out.
    await assign(id, b);
    expect(await store.acquire(b, id)).toBeUndefined();
    const t = await store.tick(a);
    expect(t.held).toEqual([{ fsid: id, epoch: 1n }]);
    expect(t.assigned).toEqual([]);
    const tb = await store.tick(b);
    expect(tb.assigned).toMatchObject([{ fsid: id, ownerMoverId: a, takeable: false }]);
    // a stops renewing (paused): after lease + grace b takes it with a new epoch.
    await sleep(450);
    expect((await store.tick(b)).assigned[0]!.takeable).toBe(true);
    const e2 = await store.acquire(b, id);
    expect(e2).toBe(2n);
    // a wakes up: its renewal shows the lease is b's now; it can neither serve nor release it.
    expect((await store.tick(a)).held).toEqual([]);
    expect(await store.setServing(a, id, e1!, true)).toBe(false);
    expect(await store.release(a, id, e1!)).toBe(false);
    // A planned move back to a: b releases, a acquires at once.
    await assign(id, a);
    expect(await store.acquire(a, id)).toBeUndefined();
    expect(await store.release(b, id, e2!)).toBe(true);
    expect(await store.acquire(a, id)).toBe(3n);
  });

  it('usage rides on the renewal: written only under the lease held, current only while its owner serves and reports', async () => {
    const store = new LeaseStore(ds, { leaseMs: 300, graceMs: 100 });
    const a = await store.registerMover({ name: 'a', address: '127.0.0.1', nfsPort: 1, httpPort: 2 });
    const b = await store.registerMover({ name: 'b', address: '127.0.0.1', nfsPort: 3, httpPort: 4 });
    const id = await filesystem();
    await ds.query(`INSERT INTO fs_leases (filesystem_id, fsid) SELECT id, fsid FROM filesystems`);
    await assign(id, a);
    const e1 = (await store.acquire(a, id))!;
    const figures = (usedBytes: number) => ({ sizeBytes: 2 ** 30, usedBytes, freeBytes: 2 ** 30 - usedBytes, files: 7, freeFiles: 1000 });
    const report = (epoch: bigint, usedBytes: number, freshMs = 5000, ageMs = 40) => ({ freshMs, reports: [{ fsid: id, epoch, usage: figures(usedBytes), ageMs }] });
    expect(await reportedUsage(ds, id)).toBeUndefined();
    // Reported before it serves: stored, not current (directors do not route to it either).
    expect((await store.tick(a, [{ fsid: id, epoch: e1 }], report(e1, 4096))).held).toEqual([{ fsid: id, epoch: e1 }]);
    expect(await reportedUsage(ds, id)).toMatchObject({ usedBytes: 4096, current: false, moverId: a, epoch: e1.toString() });
    await store.setServing(a, id, e1, true);
    const u = (await reportedUsage(ds, id))!;
    expect(u).toMatchObject({ ...figures(4096), current: true });
    // The age counts from the measurement the mover names, on the database clock.
    expect(u.ageMs).toBeGreaterThanOrEqual(40);
    expect(u.ageMs).toBeLessThan(2000);
    expect(Math.abs(Date.parse(u.measuredAt) - Date.now())).toBeLessThan(5000);
    // A report past its freshness is no longer current, though the lease still is.
    await store.tick(a, [{ fsid: id, epoch: e1 }], report(e1, 8192, 100, 0));
    expect(await reportedUsage(ds, id)).toMatchObject({ usedBytes: 8192, current: true });
    await sleep(150);
    await store.tick(a, [{ fsid: id, epoch: e1 }]); // renewed without figures
    expect(await reportedUsage(ds, id)).toMatchObject({ usedBytes: 8192, current: false });
    // A figure that is not a count is left out; the renewal it rides on still happens.
    for (const usedBytes of [Number.NaN, -1, 0.5]) {
      const bad = { freshMs: 5000, reports: [{ fsid: id, epoch: e1, usage: { ...figures(1), usedBytes }, ageMs: 0 }] };
      expect((await store.tick(a, [{ fsid: id, epoch: e1 }], bad)).held).toEqual([{ fsid: id, epoch: e1 }]);
    }
    expect((await reportedUsage(ds, id))!.usedBytes).toBe(8192);
    // Fractions of a millisecond (a lease of 9001 ms makes them) are rounded, not sent to an int8.
    await store.tick(a, [{ fsid: id, epoch: e1 }], { freshMs: 6750.75, reports: [{ fsid: id, epoch: e1, usage: figures(16384), ageMs: 12.5 }] });
    expect(await reportedUsage(ds, id)).toMatchObject({ usedBytes: 16384, current: true });
    await store.tick(a, [{ fsid: id, epoch: e1 }], report(e1, 8192));
    // b takes over after a's lease ran out; a, fenced but still reporting, cannot overwrite b's figures.
    await assign(id, b);
    await sleep(450);
    const e2 = (await store.acquire(b, id))!;
    expect(await reportedUsage(ds, id)).toMatchObject({ usedBytes: 8192, current: false }); // a's, last known
    await store.setServing(b, id, e2, true);
    await store.tick(b, [{ fsid: id, epoch: e2 }], report(e2, 12288));
    expect((await store.tick(a, [{ fsid: id, epoch: e1 }], report(e1, 1))).held).toEqual([]);
    expect(await reportedUsage(ds, id)).toMatchObject({ usedBytes: 12288, moverId: b, epoch: e2.toString(), current: true });
    // Several at once (a page of GET /filesystems), in one query: only the ones with figures.
    const other = await filesystem();
    const many = await reportedUsages(ds, [id, other, 999_999n]);
    expect([...many.keys()]).toEqual([id]);
    const { ageMs: _a, ...one } = (await reportedUsage(ds, id))!; // the age moves between the two reads
    expect(many.get(id)).toMatchObject(one);
    expect((await reportedUsages(ds, [])).size).toBe(0);
    // A planned move away (released) or an expired lease: last known, not current.
    expect(await store.release(b, id, e2)).toBe(true);
    expect(await reportedUsage(ds, id)).toMatchObject({ usedBytes: 12288, current: false });
    // Deleting the filesystem deletes its figures.
    await ds.query(`DELETE FROM filesystems WHERE fsid = $1`, [id.toString()]);
    expect(await reportedUsage(ds, id)).toBeUndefined();
  });

  it('one controller leads; it assigns, fails over a silent mover and drains', async () => {
    const url = db.url;
    const c1 = new PlacementController({ db: ds, connect: () => dedicatedConnection(url), logger: silent, moverStaleMs: 400 });
    const c2 = new PlacementController({ db: ds, connect: () => dedicatedConnection(url), logger: silent, moverStaleMs: 400 });
    try {
      const store = new LeaseStore(ds, { leaseMs: 300 });
      const a = await store.registerMover({ name: 'a', address: '127.0.0.1', nfsPort: 1, httpPort: 2 });
      const b = await store.registerMover({ name: 'b', address: '127.0.0.1', nfsPort: 3, httpPort: 4 });
      const ids = [await filesystem(), await filesystem(), await filesystem(), await filesystem()];
      expect(await c1.tick()).toBeDefined();
      expect(await c2.tick()).toBeUndefined(); // not the leader
      const assigned = async () =>
        new Map(((await ds.query(`SELECT fsid::text AS fsid, assigned_mover_id FROM fs_leases`)) as Array<{ fsid: string; assigned_mover_id: string }>).map((r) => [BigInt(r.fsid), r.assigned_mover_id]));
      let m = await assigned();
      expect(ids.every((i) => m.has(i))).toBe(true);
      expect([...m.values()].filter((x) => x === a)).toHaveLength(2);
      expect([...m.values()].filter((x) => x === b)).toHaveLength(2);
      // b goes silent: its filesystems go to a.
      await sleep(500);
      await store.tick(a);
      await c1.tick();
      m = await assigned();
      expect([...m.values()].every((x) => x === a)).toBe(true);
      // The leader's connection dies: the other controller takes over.
      await c1.stop();
      expect(await c2.tick()).toBeDefined();
      // a drains while b is back: everything goes to b, then a is drained.
      await store.tick(b);
      await store.tick(a);
      await ds.query(`UPDATE movers SET state = 'draining' WHERE id = $1`, [a]);
      await c2.tick();
      m = await assigned();
      expect([...m.values()].every((x) => x === b)).toBe(true);
      await ds.query(`UPDATE fs_leases SET owner_mover_id = $1, serving = true`, [b]);
      await store.tick(a);
      await store.tick(b);
      await c2.tick();
      const [{ state }] = await ds.query(`SELECT state FROM movers WHERE id = $1`, [a]);
      expect(state).toBe('drained');
    } finally {
      await c1.stop();
      await c2.stop();
    }
  });

  it('the pool lock: holders never overlap across processes, and a broken connection is replaced', async () => {
    const a = new PgPoolCoordinator(db.url);
    const b = new PgPoolCoordinator(db.url);
    try {
      let inside = 0;
      let most = 0;
      const work = (c: PgPoolCoordinator) =>
        c.exclusive(async () => {
          most = Math.max(most, ++inside);
          await sleep(5);
          inside--;
        });
      await Promise.all(Array.from({ length: 20 }, (_, i) => work(i % 2 ? a : b)));
      expect(most).toBe(1);
      // The server ends both sessions (as a restart of PostgreSQL would).
      await ds.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ferry-pool-lock' AND datname = current_database()`);
      expect(await a.exclusive(async () => 2)).toBe(2); // a new connection, taken transparently
      expect(await b.exclusive(async () => 3)).toBe(3);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
