/**
 * On-disk layout constants of the metadata volume (format version 2). This module holds only
 * the layout; the prose is libs/fs/FORMAT-meta.md and the golden bytes are in format.test.ts.
 * All integers are little-endian. 64-bit fields hold block numbers, LSNs and sequence numbers.
 */

/** Superblock version written. 2 adds log records of kind LOG_TX_DATA; a v1 superblock's log
 * holds only LOG_TX and LOG_WRAP records, which version 2 still replays. */
export const FORMAT_VERSION = 2;
/** Oldest superblock version this code opens (see FORMAT-meta.md "Version policy"). */
export const MIN_FORMAT_VERSION = 1;
/** Allocator bitmap layout version (unchanged since format version 1). */
export const BITMAP_VERSION = 1;
export const BLOCK_BYTES = 4096;
/** A sector: the unit a crash may tear at; log batches start on a sector boundary. */
export const SECTOR_BYTES = 512;

// ---- Superblock: two copies, block 0 (A) and block 1 (B). Checksummed bytes fit one sector.
export const SB_MAGIC = 0x4253_4d46; // "FMSB" read as LE bytes 46 4d 53 42
export const SB_BLOCK_A = 0;
export const SB_BLOCK_B = 1;
export const SB_BYTES = 256; // checksummed image; the rest of the block is zero
export const SB = {
  magic: 0, // u32
  crc: 4, // u32 crc32c of bytes [8, SB_BYTES)
  version: 8, // u32
  blockBytes: 12, // u32
  seq: 16, // u64 checkpoint sequence; copy = seq % 2 (0 → A, 1 → B)
  volumeId: 24, // u64
  epoch: 32, // u64 owner epoch
  logGen: 40, // u64 log generation: bumped at each writable open
  maxBytes: 48, // u64
  rootBlock: 56, // u64 first block of the root page
  checkpointLsn: 64, // u64 every transaction with LSN <= this is in the tree
  logStartBlock: 72, // u64
  logBlocks: 80, // u64
  logPosBytes: 88, // u64 offset in the log region where replay starts (sector aligned)
  logLsn: 96, // u64 LSN of the first record at logPosBytes
  pageBytes: 104, // u32
  groupBlocks: 108, // u32
  groupsPersisted: 112, // u32 groups [0, n) have a valid bitmap copy with seq <= this seq
  treeHeight: 116, // u32 (informational: levels, 1 = root is a leaf)
  createdNs: 120, // u64 clock at format
  formatSalt: 128, // u64 random per format: pages and bitmaps carry it, so blocks left by an
  // earlier format of the same space are never taken for this one's
  // 136..255 reserved, zero
} as const;

// ---- B+tree pages: PAGE_BYTES each, PAGE_BLOCKS contiguous blocks, aligned to PAGE_BLOCKS.
export const PAGE_BYTES = 16384;
export const PAGE_BLOCKS = PAGE_BYTES / BLOCK_BYTES;
export const PAGE_MAGIC = 0x4750_4d46; // "FMPG"
export const PAGE = {
  magic: 0, // u32
  crc: 4, // u32 crc32c of bytes [8, PAGE_BYTES)
  kind: 8, // u8 PAGE_LEAF | PAGE_INTERNAL
  level: 9, // u8 0 = leaf
  count: 10, // u16 entries
  dataEnd: 12, // u32 end of the entry area
  lsn: 16, // u64 checkpoint LSN when written
  selfBlock: 24, // u64 where the page belongs (a misdirected write fails this)
  formatSalt: 32, // u64 the superblock's formatSalt
  slots: 40, // u16[count] entry offsets, ascending key order
} as const;
export const PAGE_HEADER_BYTES = PAGE.slots;
export const PAGE_LEAF = 1;
export const PAGE_INTERNAL = 2;
/** Leaf entry: u16 keyBytes, u16 valueBytes, key, value. */
export const LEAF_ENTRY_HEADER_BYTES = 4;
/** Internal entry: u16 keyBytes, u16 zero, u64 child block, key. */
export const INTERNAL_ENTRY_HEADER_BYTES = 12;
export const SLOT_BYTES = 2;
export const PAGE_CAPACITY_BYTES = PAGE_BYTES - PAGE_HEADER_BYTES;

/** Largest key and value: three maximal leaf entries still fit one page, so splits terminate. */
export const MAX_KEY_BYTES = 1024;
export const MAX_VALUE_BYTES = 4096;

// ---- Allocator bitmaps: the space is cut into groups of GROUP_BLOCKS blocks. Blocks 0-1 of
// every group are reserved (the superblocks in group 0), blocks 2 (A) and 3 (B) hold the
// group's bitmap copies.
export const BITMAP_MAGIC = 0x4d42_4d46; // "FMBM"
export const BITMAP_HEADER_BYTES = 64;
export const GROUP_BLOCKS = (BLOCK_BYTES - BITMAP_HEADER_BYTES) * 8; // 32256
export const GROUP_RESERVED_BLOCKS = 4;
export const BITMAP_SLOT_A = 2;
export const BITMAP_SLOT_B = 3;
export const BM = {
  magic: 0, // u32
  crc: 4, // u32 crc32c of bytes [8, BLOCK_BYTES)
  version: 8, // u32
  group: 12, // u32
  seq: 16, // u64 checkpoint sequence that wrote this copy
  formatSalt: 24, // u64 the superblock's formatSalt
  usedBlocks: 32, // u32 set bits
  bits: BITMAP_HEADER_BYTES, // bit i (LSB first in byte i >> 3) = block group*GROUP_BLOCKS + i used
} as const;

// ---- Log: a circular region of whole blocks in group 0, right after the bitmap slots.
export const LOG_START_BLOCK = GROUP_RESERVED_BLOCKS;
export const LOG_MAGIC = 0x474f_4c46; // "FLOG"
export const LOG = {
  crc: 0, // u32 crc32c of bytes [4, LOG_HEADER_BYTES + payloadBytes)
  magic: 4, // u32
  payloadBytes: 8, // u32
  kind: 12, // u8 LOG_TX | LOG_WRAP | LOG_TX_DATA
  flags: 13, // u8 LOG_FLAG_LAST: last record of a batch, the next batch starts on a sector
  reserved: 14, // u16 zero
  lsn: 16, // u64
  epoch: 24, // u64
  logGen: 32, // u64
} as const;
export const LOG_HEADER_BYTES = 40;
export const LOG_TX = 1;
export const LOG_WRAP = 2;
/** Format 2: a transaction followed by the crc32c of file data blocks it maps that were not
 * yet synced when its batch was written (recovery verifies them: FORMAT-meta.md). */
export const LOG_TX_DATA = 3;
/** Data checksums section (LOG_TX_DATA, after the transaction): u32 runs, then per run
 * u64 first block, u32 block count, count × u32 crc32c of each 4096-byte block. */
export const TX_DATA_HEADER_BYTES = 4;
export const TX_DATA_RUN_HEADER_BYTES = 12;
export const TX_DATA_CRC_BYTES = 4;
export const LOG_FLAG_LAST = 1;
/** Transaction payload: u32 puts, u32 dels, u32 allocated, u32 freed, then the items. */
export const TX_HEADER_BYTES = 16;
export const TX_PUT_HEADER_BYTES = 6; // u16 keyBytes, u32 valueBytes
export const TX_DEL_HEADER_BYTES = 2; // u16 keyBytes
export const TX_EXTENT_BYTES = 12; // u64 block, u32 count
export const MAX_TX_BYTES = 4 * 1024 * 1024;

export const DEFAULT_LOG_BYTES = 32 * 1024 * 1024;
export const MIN_LOG_BYTES = 256 * 1024;

export function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** 64-bit little-endian field holding a safe integer (block numbers, counts). */
export function readU64(buf: Buffer, off: number): number {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  if (hi > 0x1f_ffff) throw new RangeError(`64-bit field at ${off} exceeds 2^53`);
  return hi * 0x1_0000_0000 + lo;
}

export function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v >>> 0, off);
  buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), off + 4);
}
