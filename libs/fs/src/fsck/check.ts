/**
 * Offline consistency check of an engine filesystem on a volume (nothing may use the volume
 * meanwhile; the check never writes).
 *
 * It proves: every key decodes; link counts match directory entries; every directory is
 * reachable from the root and names its real parent; no entry names a missing inode; extents lie
 * inside the volume, do not overlap in the file or on the volume, and stay within the file's
 * size; every data block matches its crc32c; each inode's `used` matches its extents; and the
 * blocks the volume counts as used cover the extents (exactly, when the volume can list them).
 */
import { crc32c } from '@node-rs/crc32';
import { FileType } from '../api';
import type { VerifyReport } from '../meta/verify';
import type { Extent, Volume } from '../meta/volume';
import {
  BLOCK_BYTES,
  COLLISION_SLOTS,
  KeyPrefix,
  ROOT_INO,
  decodeDirent,
  decodeExtent,
  decodeInode,
  decodeReply,
  decodeSuper,
  direntCookie,
  extentKeyFileBlock,
  nameHashBase,
} from '../engine/layout';

export interface FsckReport {
  clean: boolean;
  problems: string[];
  counts: {
    inodes: number;
    directories: number;
    entries: number;
    extents: number;
    dataBlocks: number;
    freeInodeNumbers: number;
    /** Reply records of the duplicate request cache (framing checked, contents opaque). */
    replyRecords: number;
    keys: number;
  };
}

export interface FsckOptions {
  onProgress?: (done: number, total: number) => void;
  /** Stop collecting after this many problems (the report says so). Default 1000. */
  maxProblems?: number;
  /**
   * The metadata volume's own check (`verifyVolume` of the same space, run first): its errors
   * are included, and space accounting becomes exact (used = metadata + data + pending-free).
   */
  volumeReport?: VerifyReport;
}

/** Optional introspection a volume may offer so the space check can be exact. */
interface AllocationListing {
  /** Data blocks the allocator holds as used (named by applied transactions, not freed). */
  usedExtents(): Extent[];
}

interface InodeInfo {
  type: FileType;
  nlink: number;
  parent: bigint;
  size: number;
  usedBlocks: number;
  refs: number;
  subdirs: number;
  extentBlocks: number;
  /** Directory holding this directory's entry (directories only). */
  seenIn?: bigint;
}

export async function checkFileSystem(volume: Volume, opts: FsckOptions = {}): Promise<FsckReport> {
  const problems: string[] = [];
  const maxProblems = opts.maxProblems ?? 1000;
  let truncated = false;
  const problem = (p: string): void => {
    if (problems.length < maxProblems) problems.push(p);
    else truncated = true;
  };
  const counts = { inodes: 0, directories: 0, entries: 0, extents: 0, dataBlocks: 0, freeInodeNumbers: 0, replyRecords: 0, keys: 0 };

  // Pass 1: count keys and data blocks so progress has a total.
  let totalKeys = 0;
  let totalBlocks = 0;
  await volume.scan(Buffer.alloc(0), undefined, (k, v) => {
    totalKeys++;
    if (k[0] === KeyPrefix.EXTENT && v.length >= 12) totalBlocks += v.readUInt32BE(8);
    return true;
  });
  const total = totalKeys + totalBlocks;
  let done = 0;
  const progress = (n: number): void => {
    done += n;
    opts.onProgress?.(done, total);
  };

  // Pass 2: decode everything. Entries and extents are checked after inodes are known, so they
  // are gathered first (offline check: memory proportional to the metadata is accepted).
  const inodes = new Map<bigint, InodeInfo>();
  const entries: Array<{ dir: bigint; cookie: bigint; ino: bigint; type: FileType; name: string }> = [];
  const extents: Array<{ ino: bigint; fileBlock: number; volBlock: number; count: number; crcs: Uint32Array }> = [];
  const freeInos: bigint[] = [];
  let superFound = false;
  await volume.scan(Buffer.alloc(0), undefined, (k, v) => {
    counts.keys++;
    try {
      switch (k[0]) {
        case KeyPrefix.SUPER:
          if (k.length !== 1) throw new Error('bad superblock key');
          decodeSuper(v);
          superFound = true;
          break;
        case KeyPrefix.INODE: {
          if (k.length !== 9) throw new Error('bad inode key length');
          const ino = k.readBigUInt64BE(1);
          const r = decodeInode(ino, v);
          inodes.set(ino, { type: r.type, nlink: r.nlink, parent: r.parent, size: r.size, usedBlocks: r.usedBlocks, refs: 0, subdirs: 0, extentBlocks: 0 });
          break;
        }
        case KeyPrefix.DIRENT: {
          if (k.length !== 17) throw new Error('bad entry key length');
          const d = decodeDirent(v);
          entries.push({ dir: k.readBigUInt64BE(1), cookie: direntCookie(k), ino: d.ino, type: d.type, name: d.name.toString('utf8') });
          const base = nameHashBase(d.name);
          const c = direntCookie(k);
          if (c < base || c >= base + BigInt(COLLISION_SLOTS)) throw new Error(`entry "${d.name.toString('utf8')}" is not at its name's hash`);
          break;
        }
        case KeyPrefix.FREE_INO:
          if (k.length !== 9 || v.length !== 4) throw new Error('bad free inode record');
          freeInos.push(k.readBigUInt64BE(1));
          break;
        case KeyPrefix.EXTENT: {
          if (k.length !== 17) throw new Error('bad extent key length');
          const e = decodeExtent(extentKeyFileBlock(k), v);
          extents.push({ ino: k.readBigUInt64BE(1), ...e });
          break;
        }
        case KeyPrefix.REPLY:
          // Opaque to the engine; only the framing is checked (the protocol layer decodes the rest).
          if (k.length !== 9) throw new Error('bad reply record key length');
          decodeReply(v);
          counts.replyRecords++;
          break;
        default:
          throw new Error('unknown key prefix');
      }
    } catch (e) {
      problem(`key ${k.toString('hex')}: does not decode: ${(e as Error).message}`);
    }
    progress(1);
    return true;
  });
  if (!superFound) problem('no engine superblock record');
  counts.inodes = inodes.size;
  counts.freeInodeNumbers = freeInos.length;
  counts.entries = entries.length;
  counts.extents = extents.length;

  for (const ino of freeInos) if (inodes.has(ino)) problem(`inode ${ino}: in use but also listed as free`);

  // Directory entries.
  const childDirs = new Map<bigint, bigint[]>();
  for (const e of entries) {
    const dir = inodes.get(e.dir);
    if (!dir) {
      problem(`entry "${e.name}" (cookie ${e.cookie}) in missing directory ${e.dir}`);
      continue;
    }
    if (dir.type !== FileType.DIR) problem(`entry "${e.name}" in inode ${e.dir}, which is not a directory`);
    const target = inodes.get(e.ino);
    if (!target) {
      problem(`directory ${e.dir}: entry "${e.name}" names missing inode ${e.ino}`);
      continue;
    }
    if (target.type !== e.type) problem(`directory ${e.dir}: entry "${e.name}" says type ${e.type}, inode ${e.ino} is ${target.type}`);
    target.refs++;
    if (target.type === FileType.DIR) {
      dir.subdirs++;
      if (target.seenIn !== undefined) problem(`directory ${e.ino}: has more than one entry (second in ${e.dir})`);
      target.seenIn = e.dir;
      let list = childDirs.get(e.dir);
      if (!list) childDirs.set(e.dir, (list = []));
      list.push(e.ino);
    }
  }

  // Link counts and parents.
  const root = inodes.get(ROOT_INO);
  if (!root || root.type !== FileType.DIR) problem('root directory is missing or not a directory');
  for (const [ino, r] of inodes) {
    if (r.type === FileType.DIR) {
      counts.directories++;
      if (r.nlink !== 2 + r.subdirs) problem(`directory ${ino}: nlink ${r.nlink}, expected ${2 + r.subdirs} (2 + ${r.subdirs} subdirectories)`);
      if (ino === ROOT_INO) {
        if (r.refs !== 0) problem(`root directory: named by ${r.refs} entries`);
        if (r.parent !== ROOT_INO) problem(`root directory: parent is ${r.parent}`);
      } else if (r.seenIn !== undefined && r.parent !== r.seenIn) {
        problem(`directory ${ino}: parent field ${r.parent} but its entry is in ${r.seenIn}`);
      }
    } else if (r.nlink !== r.refs) {
      problem(`inode ${ino}: nlink ${r.nlink} but ${r.refs} directory entries`);
    }
    if (r.refs === 0 && ino !== ROOT_INO) problem(`inode ${ino}: not named by any directory entry (orphan)`);
  }

  // Reachability from the root.
  if (root) {
    const seen = new Set<bigint>([ROOT_INO]);
    const queue = [ROOT_INO];
    while (queue.length) {
      const d = queue.pop()!;
      for (const c of childDirs.get(d) ?? []) {
        if (!seen.has(c)) {
          seen.add(c);
          queue.push(c);
        }
      }
    }
    for (const [ino, r] of inodes) if (r.type === FileType.DIR && !seen.has(ino)) problem(`directory ${ino}: not reachable from the root`);
  }

  // Extents: placement, overlap, checksums.
  const stats = volume.stats();
  const volRanges: Array<{ start: number; end: number; ino: bigint }> = [];
  let prev: { ino: bigint; end: number } | undefined;
  for (const e of extents) {
    const r = inodes.get(e.ino);
    if (!r) problem(`extent of missing inode ${e.ino} at file block ${e.fileBlock}`);
    else if (r.type !== FileType.REG) problem(`inode ${e.ino}: has extents but is not a regular file`);
    else {
      r.extentBlocks += e.count;
      if (e.fileBlock + e.count > Math.ceil(r.size / BLOCK_BYTES)) problem(`inode ${e.ino}: extent at file block ${e.fileBlock} (+${e.count}) lies past the size ${r.size}`);
    }
    if (prev && prev.ino === e.ino && e.fileBlock < prev.end) problem(`inode ${e.ino}: extents overlap at file block ${e.fileBlock}`);
    prev = { ino: e.ino, end: e.fileBlock + e.count };
    if (e.volBlock + e.count > stats.totalBlocks) {
      problem(`inode ${e.ino}: extent at file block ${e.fileBlock} points outside the volume (block ${e.volBlock} +${e.count})`);
      progress(e.count);
      continue;
    }
    volRanges.push({ start: e.volBlock, end: e.volBlock + e.count, ino: e.ino });
    const buf = Buffer.allocUnsafe(e.count * BLOCK_BYTES);
    try {
      await volume.readBlocks(e.volBlock, buf);
      for (let i = 0; i < e.count; i++) {
        if (crc32c(buf.subarray(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES)) !== e.crcs[i]) {
          problem(`inode ${e.ino}: file block ${e.fileBlock + i} (volume block ${e.volBlock + i}) fails its checksum`);
        }
      }
    } catch (err) {
      problem(`inode ${e.ino}: cannot read volume blocks ${e.volBlock} +${e.count}: ${(err as Error).message}`);
    }
    counts.dataBlocks += e.count;
    progress(e.count);
  }
  for (const [ino, r] of inodes) {
    if (r.usedBlocks !== r.extentBlocks) problem(`inode ${ino}: used ${r.usedBlocks} blocks but extents hold ${r.extentBlocks}`);
  }
  volRanges.sort((a, b) => a.start - b.start);
  for (let i = 1; i < volRanges.length; i++) {
    const a = volRanges[i - 1]!;
    const b = volRanges[i]!;
    if (b.start < a.end) problem(`volume block ${b.start}: used by inode ${a.ino} and inode ${b.ino}`);
  }

  // Space accounting.
  const listing = volume as unknown as Partial<AllocationListing>;
  const vr = opts.volumeReport;
  if (vr) for (const e of vr.errors) problem(`metadata volume: ${e}`);
  if (vr || typeof listing.usedExtents === 'function') {
    // With the volume's report, metadata and pending-free blocks count as named, and every
    // used block must be named by exactly one of data, metadata or pending-free.
    const used = vr ? vr.usedExtents : listing.usedExtents!();
    if (vr) {
      for (const e of [...vr.metaExtents, ...vr.pendingFreeExtents]) volRanges.push({ start: e.block, end: e.block + e.count, ino: 0n });
      volRanges.sort((a, b) => a.start - b.start);
      for (let k = 1; k < volRanges.length; k++) {
        const a = volRanges[k - 1]!;
        const b = volRanges[k]!;
        if (b.start < a.end && (a.ino === 0n || b.ino === 0n) && a.ino !== b.ino) problem(`volume block ${b.start}: data of inode ${a.ino || b.ino} overlaps metadata or pending-free blocks`);
      }
    }
    let i = 0;
    let j = 0;
    // Two sorted interval lists: report blocks only one of them holds.
    const usedSorted = [...used].sort((a, b) => a.block - b.block);
    const extBlocks = volRanges;
    const inUsed = (blk: number): boolean => {
      while (i < usedSorted.length && usedSorted[i]!.block + usedSorted[i]!.count <= blk) i++;
      const u = usedSorted[i];
      return u !== undefined && u.block <= blk;
    };
    for (const r of extBlocks) for (let b = r.start; b < r.end; b++) if (!inUsed(b)) problem(`volume block ${b}: named by inode ${r.ino} but free in the allocator`);
    const inExt = (blk: number): boolean => {
      while (j < extBlocks.length && extBlocks[j]!.end <= blk) j++;
      const e = extBlocks[j];
      return e !== undefined && e.start <= blk;
    };
    let leaked = 0;
    for (const u of usedSorted) for (let b = u.block; b < u.block + u.count; b++) if (!inExt(b)) leaked++;
    if (leaked > 0) problem(`${leaked} blocks used in the allocator but named by no extent (leak)`);
  } else {
    const usedBlocks = stats.maxBlocks - stats.freeBlocks;
    if (counts.dataBlocks > usedBlocks) problem(`extents hold ${counts.dataBlocks} blocks but the volume counts only ${usedBlocks} used`);
  }

  if (truncated) problems.push(`... more problems not listed (limit ${maxProblems})`);
  return { clean: problems.length === 0, problems, counts };
}
