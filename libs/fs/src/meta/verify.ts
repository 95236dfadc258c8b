import type { Space } from '@ferry/pool';
import { Node, verifyPage } from './btree';
import { BLOCK_BYTES, GROUP_BLOCKS, GROUP_RESERVED_BLOCKS, PAGE_BLOCKS, PAGE_BYTES } from './layout';
import { openVolume } from './meta-volume';
import type { Extent } from './volume';

/**
 * Offline check of a metadata volume for fsck: opens it read-only (which replays the log in
 * memory), then reads every tree page from the device (bypassing the cache), verifying its
 * checksum, key order and bounds, and that the allocator marks it used and not free-pending.
 * It returns the blocks metadata occupies and the blocks the allocator believes in use, so the
 * engine's fsck can check that used = metadata + file data + pending-free, with no overlap.
 */
export interface VerifyReport {
  ok: boolean;
  errors: string[];
  pages: number;
  keys: number;
  height: number;
  /** Superblocks, bitmap slots, the log, tree pages: ascending, merged. */
  metaExtents: Extent[];
  /** Every block the allocator marks used (including pending-free), ascending. */
  usedExtents: Extent[];
  /** Freed since the last checkpoint: still marked used, named by nothing live. */
  pendingFreeExtents: Extent[];
  lastLsn: bigint;
  checkpointLsn: bigint;
}

export async function verifyVolume(
  space: Space,
  onProgress?: (p: { pagesChecked: number }) => void,
  opts: { maxErrors?: number } = {},
): Promise<VerifyReport> {
  const vol = await openVolume(space, { readOnly: true, cachePages: 64 });
  const { tree, alloc, sb } = vol.internals;
  const errors: string[] = [];
  const maxErrors = opts.maxErrors ?? 1000;
  const err = (m: string): void => {
    if (errors.length < maxErrors) errors.push(m);
  };
  const meta: Extent[] = [];
  const seen = new Set<number>();
  let pages = 0;
  let keys = 0;
  const buf = Buffer.allocUnsafeSlow(PAGE_BYTES);

  // Fixed structures of every group.
  for (let g = 0; g < alloc.groupCount; g++) meta.push({ block: g * GROUP_BLOCKS, count: GROUP_RESERVED_BLOCKS });
  meta.push({ block: sb.logStartBlock, count: sb.logBlocks });

  // Depth-first walk; `lo`/`hi` bound the keys the node may hold ([lo, hi)).
  const walk = async (ref: number | Node, level: number, lo: Buffer | undefined, hi: Buffer | undefined, where: string): Promise<void> => {
    let n: Node;
    if (typeof ref === 'number') {
      if (seen.has(ref)) {
        err(`page ${ref} is referenced twice (${where})`);
        return;
      }
      seen.add(ref);
      if ((ref + PAGE_BLOCKS) * BLOCK_BYTES > space.sizeBytes) {
        err(`page ${ref} lies beyond the space (${where})`);
        return;
      }
      await space.read(buf, ref * BLOCK_BYTES);
      try {
        verifyPage(buf, ref, sb.formatSalt);
      } catch (e) {
        err((e as Error).message);
        return;
      }
      n = Node.clean(Buffer.from(buf), ref);
      meta.push({ block: ref, count: PAGE_BLOCKS });
      for (let b = ref; b < ref + PAGE_BLOCKS; b++) {
        if (!alloc.isUsed(b)) err(`page ${ref}: block ${b} is marked free`);
        else if (alloc.isPendingFree(b)) err(`page ${ref}: block ${b} is pending free`);
      }
      pages++;
      if (pages % 1000 === 0) onProgress?.({ pagesChecked: pages });
    } else n = ref;
    if (n.level !== level) {
      err(`page ${n.addr}: level ${n.level}, expected ${level} (${where})`);
      return;
    }
    let prev: Buffer | undefined;
    for (let i = 0; i < n.count; i++) {
      const k = n.keyAt(i);
      const ignored = level > 0 && i === 0;
      if (!ignored) {
        if (prev && prev.compare(k) >= 0) err(`page ${n.addr}: key ${i} out of order`);
        if (lo && k.compare(lo) < 0) err(`page ${n.addr}: key ${i} below its lower bound`);
        if (hi && k.compare(hi) >= 0) err(`page ${n.addr}: key ${i} at or above its upper bound`);
        prev = k;
      }
    }
    if (level === 0) {
      keys += n.count;
      return;
    }
    if (n.count === 0) err(`page ${n.addr}: empty internal node`);
    for (let i = 0; i < n.count; i++) {
      const clo = i === 0 ? lo : Buffer.from(n.keyAt(i));
      const chi = i + 1 < n.count ? Buffer.from(n.keyAt(i + 1)) : hi;
      await walk(n.kidAt(i), level - 1, clo, chi, `child ${i} of page ${n.addr}`);
    }
  };
  try {
    await walk(tree.root, tree.height - 1, undefined, undefined, 'root');
  } finally {
    await vol.close();
  }
  onProgress?.({ pagesChecked: pages });
  const stats = vol.stats();
  return {
    ok: errors.length === 0,
    errors,
    pages,
    keys,
    height: tree.height,
    metaExtents: mergeExtents(meta),
    usedExtents: alloc.usedExtents(),
    pendingFreeExtents: mergeExtents(alloc.pendingExtents()),
    lastLsn: stats.lastLsn,
    checkpointLsn: stats.checkpointLsn,
  };
}

export function mergeExtents(list: Extent[]): Extent[] {
  const s = list.filter((e) => e.count > 0).sort((a, b) => a.block - b.block);
  const out: Extent[] = [];
  for (const e of s) {
    const last = out[out.length - 1];
    if (last && e.block <= last.block + last.count) last.count = Math.max(last.count, e.block + e.count - last.block);
    else out.push({ ...e });
  }
  return out;
}
