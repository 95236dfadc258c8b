import type { Timespec } from '@ferry/fs';

// Wall clock with nanosecond resolution: the wall time at start plus the monotonic time since.
const WALL_BASE_NS = BigInt(Date.now()) * 1_000_000n;
const HR_BASE = process.hrtime.bigint();

/** The engine's clock for file times (every mover flavour and the cluster admin-api use it). */
export function nowTimespec(): Timespec {
  const ns = process.hrtime.bigint() - HR_BASE + WALL_BASE_NS;
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}
