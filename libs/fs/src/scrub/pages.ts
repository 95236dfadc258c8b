/**
 * The metadata half of the online scrub: reads every page of the last checkpointed B+tree from
 * the device (bypassing the page cache) and verifies it (crc32c, magic, self address, format
 * salt, entry bounds: btree.ts verifyPage).
 *
 * Why a live walk is sound: the pages a flipped superblock (seq N) reaches are never rewritten
 * before the flip of N+2 (blocks freed before the snapshot of checkpoint N+1 become reusable only
 * after the flip of N+2: block-allocator.ts). A page that fails while the volume is still at
 * seq N or N+1 is therefore damage on the device; one that fails later may simply have been
 * reused, so the walk starts over from the newest root (a bounded number of times) instead of
 * reporting it. Pages are read one at a time with a yield every few dozen.
 */
import { Node, verifyPage } from '../meta/btree';
import { PAGE_BYTES } from '../meta/layout';
import type { MetaVolume } from '../meta/meta-volume';

export interface PageScrubHooks {
  check(): void;
  onPage(addr: number): void;
  onDamage(addr: number, reason: string): void;
  yieldToLoop(): Promise<void>;
}

/** Walks restarted because checkpoints overtook them, before giving up (reported as damage-free). */
const MAX_RESTARTS = 5;
const PAGES_PER_YIELD = 32;

export async function scrubMetadataPages(volume: MetaVolume, hooks: PageScrubHooks): Promise<{ restarts: number; complete: boolean }> {
  for (let restart = 0; restart <= MAX_RESTARTS; restart++) {
    const { sb } = volume.internals;
    const seq0 = sb.seq;
    const overtaken = (): boolean => volume.internals.sb.seq > seq0 + 1n;
    const found: Array<{ addr: number; reason: string }> = [];
    const seen = new Set<number>();
    const stack: Array<{ addr: number; level: number }> = [{ addr: sb.rootBlock, level: sb.treeHeight - 1 }];
    const buf = Buffer.allocUnsafeSlow(PAGE_BYTES);
    let sinceYield = 0;
    let lost = false;
    while (stack.length > 0) {
      const { addr, level } = stack.pop()!;
      if (seen.has(addr)) continue;
      seen.add(addr);
      if (++sinceYield >= PAGES_PER_YIELD) {
        sinceYield = 0;
        hooks.check();
        await hooks.yieldToLoop();
      }
      try {
        await volume.readBlocks(addr, buf);
        verifyPage(buf, addr, sb.formatSalt);
      } catch (e) {
        // Not overtaken when checked after the read: it was not overtaken during it either, so
        // the page read belonged to the walked tree and the failure is real.
        if (overtaken()) {
          lost = true;
          break;
        }
        found.push({ addr, reason: (e as Error).message });
        continue;
      }
      const n = Node.clean(buf, addr);
      hooks.onPage(addr);
      if (n.level !== level) {
        if (overtaken()) {
          lost = true;
          break;
        }
        found.push({ addr, reason: `page ${addr}: level ${n.level}, expected ${level}` });
        continue;
      }
      if (level > 0) for (let i = n.count - 1; i >= 0; i--) stack.push({ addr: n.kidAt(i) as number, level: level - 1 });
    }
    if (!lost) {
      for (const f of found) hooks.onDamage(f.addr, f.reason);
      return { restarts: restart, complete: true };
    }
  }
  return { restarts: MAX_RESTARTS, complete: false };
}
