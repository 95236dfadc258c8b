/**
 * Placement: which mover each filesystem should be on (a pure function; the controller applies
 * its answer). Rules, in order:
 *
 * 1. Only healthy, active movers are candidates (a draining mover keeps serving what it holds
 *    until the move away is done, but gets nothing new).
 * 2. A filesystem assigned to no candidate (no mover, a dead one, a draining one) goes to the
 *    candidate with the fewest filesystems (ties: the lowest mover name), counting as it goes.
 * 3. Rebalancing moves one filesystem at a time, and only while no move is in flight (a lease
 *    whose holder is not its assigned mover, or not serving yet): from the fullest candidate to
 *    the emptiest when they differ by two or more. So a joining mover fills up one filesystem
 *    per settled move, and each move is a short pause for one filesystem only.
 * 4. A draining mover that holds and is assigned nothing is drained.
 */
export interface MoverView {
  id: string;
  name: string;
  state: string;
  healthy: boolean;
}

export interface LeaseView {
  fsid: bigint;
  assignedMoverId: string | null;
  ownerMoverId: string | null;
  serving: boolean;
}

export interface PlacementChange {
  fsid: bigint;
  from: string | null;
  to: string;
  reason: 'unassigned' | 'mover-unhealthy' | 'mover-draining' | 'rebalance';
}

export interface Placement {
  changes: PlacementChange[];
  /** Draining movers that hold and are assigned nothing. */
  drained: string[];
}

export function place(movers: readonly MoverView[], leases: readonly LeaseView[]): Placement {
  const byId = new Map(movers.map((m) => [m.id, m]));
  const candidates = movers.filter((m) => m.healthy && m.state === 'active').sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const load = new Map(candidates.map((m) => [m.id, 0]));
  const assignment = new Map<bigint, string | null>();
  for (const l of leases) {
    assignment.set(l.fsid, l.assignedMoverId);
    if (l.assignedMoverId !== null && load.has(l.assignedMoverId)) load.set(l.assignedMoverId, load.get(l.assignedMoverId)! + 1);
  }
  const emptiest = (): string | undefined => {
    let best: string | undefined;
    for (const m of candidates) if (best === undefined || load.get(m.id)! < load.get(best)!) best = m.id;
    return best;
  };

  const changes: PlacementChange[] = [];
  for (const l of [...leases].sort((a, b) => (a.fsid < b.fsid ? -1 : 1))) {
    if (l.assignedMoverId !== null && load.has(l.assignedMoverId)) continue;
    const to = emptiest();
    if (to === undefined) break;
    const cur = l.assignedMoverId === null ? undefined : byId.get(l.assignedMoverId);
    const reason = cur === undefined ? 'unassigned' : !cur.healthy ? 'mover-unhealthy' : 'mover-draining';
    changes.push({ fsid: l.fsid, from: l.assignedMoverId, to, reason });
    assignment.set(l.fsid, to);
    load.set(to, load.get(to)! + 1);
  }

  const settled = changes.length === 0 && leases.every((l) => l.assignedMoverId === null || (l.ownerMoverId === l.assignedMoverId && l.serving));
  if (settled && candidates.length >= 2) {
    let full = candidates[0]!;
    let empty = candidates[0]!;
    for (const m of candidates) {
      if (load.get(m.id)! > load.get(full.id)!) full = m;
      if (load.get(m.id)! < load.get(empty.id)!) empty = m;
    }
    if (load.get(full.id)! - load.get(empty.id)! >= 2) {
      const victim = [...leases].filter((l) => l.assignedMoverId === full.id).sort((a, b) => (a.fsid < b.fsid ? 1 : -1))[0]!;
      changes.push({ fsid: victim.fsid, from: full.id, to: empty.id, reason: 'rebalance' });
      assignment.set(victim.fsid, empty.id);
    }
  }

  const drained: string[] = [];
  for (const m of movers) {
    if (m.state !== 'draining') continue;
    const busy = leases.some((l) => assignment.get(l.fsid) === m.id || l.ownerMoverId === m.id);
    if (!busy) drained.push(m.id);
  }
  return { changes, drained };
}
