/**
 * Key and value layouts of the filesystem engine in the volume's key-value store.
 * Prose, versioning and rules: libs/fs/FORMAT-engine.md. This module holds only the layout and
 * its codecs; every integer is big-endian so keys sort numerically under memcmp.
 */
import { hash } from 'node:crypto';
import { type Attr, FileType, type Timespec } from '../api';
import { MAX_VALUE_BYTES } from '../meta/layout';

export const FORMAT_VERSION = 1;
export const SUPER_MAGIC = Buffer.from('FERRYFS\0', 'latin1');

/** Key space prefixes (first key byte). */
export const enum KeyPrefix {
  SUPER = 0x00,
  INODE = 0x01,
  DIRENT = 0x02,
  FREE_INO = 0x03,
  EXTENT = 0x04,
  /** Reply records of the protocol layer's duplicate request cache (optional: older
   * filesystems simply have none, so the format version stays 1). */
  REPLY = 0x05,
}

export const BLOCK_BYTES = 4096;
const BLOCK_BIGINT = BigInt(BLOCK_BYTES);
/** Longest extent in blocks: bounds a value to 12 + 4*256 bytes and lets an overlap search
 * start MAX_EXTENT_BLOCKS - 1 blocks before the range. */
export const MAX_EXTENT_BLOCKS = 256;
export const MAX_NAME_BYTES = 255;
/** Keeps an inode record (99 bytes + target) under the volume's 4096-byte value limit. */
export const MAX_SYMLINK_BYTES = 3968;
export const MAX_LINKS = 65000;
/** 16 TiB: file block numbers stay below 2^32 and byte offsets are safe integers. */
export const MAX_FILE_BYTES = 2 ** 44;
export const ROOT_INO = 1n;
/** READDIR cookies of "." and ".."; real entries have cookies >= FIRST_ENTRY_COOKIE. */
export const COOKIE_DOT = 1n;
export const COOKIE_DOTDOT = 2n;
export const COLLISION_SLOTS = 256;
export const FIRST_ENTRY_COOKIE = BigInt(COLLISION_SLOTS);

// ---- helpers for 64-bit integers held as JS numbers (all < 2^53) ----

function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x1_0000_0000), offset);
  buf.writeUInt32BE(value >>> 0, offset + 4);
}

function readU64(buf: Buffer, offset: number): number {
  const hi = buf.readUInt32BE(offset);
  if (hi >= 0x20_0000) throw new LayoutError(`64-bit value at ${offset} exceeds 2^53`);
  return hi * 0x1_0000_0000 + buf.readUInt32BE(offset + 4);
}

export class LayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LayoutError';
  }
}

// ---- superblock record: key [0x00] ----

export const SUPER_KEY = Buffer.from([KeyPrefix.SUPER]);

export interface SuperRecord {
  version: number;
  /** Next never-used inode number. */
  nextIno: bigint;
  /** Inodes in use. */
  inodeCount: bigint;
}

export const SUPER_BYTES = 8 + 2 + 8 + 8;

export function encodeSuper(s: SuperRecord): Buffer {
  const b = Buffer.alloc(SUPER_BYTES);
  SUPER_MAGIC.copy(b, 0);
  b.writeUInt16BE(s.version, 8);
  b.writeBigUInt64BE(s.nextIno, 10);
  b.writeBigUInt64BE(s.inodeCount, 18);
  return b;
}

export function decodeSuper(b: Buffer): SuperRecord {
  if (b.length !== SUPER_BYTES || !b.subarray(0, 8).equals(SUPER_MAGIC)) throw new LayoutError('bad superblock record');
  const version = b.readUInt16BE(8);
  if (version !== FORMAT_VERSION) throw new LayoutError(`unsupported engine format version ${version}`);
  return { version, nextIno: b.readBigUInt64BE(10), inodeCount: b.readBigUInt64BE(18) };
}

// ---- inode record: key [0x01][ino u64] ----

export function inodeKey(ino: bigint): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = KeyPrefix.INODE;
  k.writeBigUInt64BE(ino, 1);
  return k;
}

export interface InodeRecord {
  ino: bigint;
  type: FileType;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  generation: number;
  size: number;
  usedBlocks: number;
  rdevMajor: number;
  rdevMinor: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /** RFC 1813 §3.3.8 createverf3 of an EXCLUSIVE create, kept durably for retransmits. */
  verifier?: Buffer;
  /** Parent directory (directories only; the root is its own parent). */
  parent: bigint;
  /** Symlink target as raw bytes (symlinks only). */
  target?: Buffer;
}

export const INODE_VERSION = 1;
export const INODE_FIXED_BYTES = 99;

function writeTime(b: Buffer, t: Timespec, off: number): void {
  writeU64(b, t.sec, off);
  b.writeUInt32BE(t.nsec, off + 8);
}

function readTime(b: Buffer, off: number): Timespec {
  const sec = readU64(b, off);
  const nsec = b.readUInt32BE(off + 8);
  if (nsec > 999_999_999) throw new LayoutError('bad nanoseconds');
  return { sec, nsec };
}

export function encodeInode(r: InodeRecord): Buffer {
  const tlen = r.target?.length ?? 0;
  const b = Buffer.alloc(INODE_FIXED_BYTES + tlen);
  b[0] = INODE_VERSION;
  b[1] = r.type;
  b.writeUInt16BE(r.mode & 0o7777, 2);
  b.writeUInt32BE(r.nlink, 4);
  b.writeUInt32BE(r.uid >>> 0, 8);
  b.writeUInt32BE(r.gid >>> 0, 12);
  b.writeUInt32BE(r.generation >>> 0, 16);
  writeU64(b, r.size, 20);
  writeU64(b, r.usedBlocks, 28);
  b.writeUInt32BE(r.rdevMajor >>> 0, 36);
  b.writeUInt32BE(r.rdevMinor >>> 0, 40);
  writeTime(b, r.atime, 44);
  writeTime(b, r.mtime, 56);
  writeTime(b, r.ctime, 68);
  if (r.verifier) {
    b[80] = 1;
    r.verifier.copy(b, 81, 0, 8);
  }
  b.writeBigUInt64BE(r.parent, 89);
  b.writeUInt16BE(tlen, 97);
  r.target?.copy(b, INODE_FIXED_BYTES);
  return b;
}

export function decodeInode(ino: bigint, b: Buffer): InodeRecord {
  if (b.length < INODE_FIXED_BYTES) throw new LayoutError(`inode ${ino}: record too short`);
  if (b[0] !== INODE_VERSION) throw new LayoutError(`inode ${ino}: unknown record version ${b[0]}`);
  const type = b[1]!;
  if (type < FileType.REG || type > FileType.FIFO) throw new LayoutError(`inode ${ino}: bad type ${type}`);
  const tlen = b.readUInt16BE(97);
  if (b.length !== INODE_FIXED_BYTES + tlen) throw new LayoutError(`inode ${ino}: bad record length`);
  const flags = b[80]!;
  return {
    ino,
    type,
    mode: b.readUInt16BE(2) & 0o7777,
    nlink: b.readUInt32BE(4),
    uid: b.readUInt32BE(8),
    gid: b.readUInt32BE(12),
    generation: b.readUInt32BE(16),
    size: readU64(b, 20),
    usedBlocks: readU64(b, 28),
    rdevMajor: b.readUInt32BE(36),
    rdevMinor: b.readUInt32BE(40),
    atime: readTime(b, 44),
    mtime: readTime(b, 56),
    ctime: readTime(b, 68),
    verifier: flags & 1 ? Buffer.from(b.subarray(81, 89)) : undefined,
    parent: b.readBigUInt64BE(89),
    target: type === FileType.LNK ? Buffer.from(b.subarray(INODE_FIXED_BYTES)) : undefined,
  };
}

/**
 * The client-visible attributes of an inode record, decoded straight from its bytes with the
 * same checks as decodeInode: READDIRPLUS and READ need only these, and skipping the
 * intermediate record (and its verifier and target copies) is most of the cost of a listing.
 */
export function decodeInodeAttr(ino: bigint, b: Buffer, fsid: bigint): Attr {
  if (b.length < INODE_FIXED_BYTES) throw new LayoutError(`inode ${ino}: record too short`);
  if (b[0] !== INODE_VERSION) throw new LayoutError(`inode ${ino}: unknown record version ${b[0]}`);
  const type = b[1]!;
  if (type < FileType.REG || type > FileType.FIFO) throw new LayoutError(`inode ${ino}: bad type ${type}`);
  if (b.length !== INODE_FIXED_BYTES + b.readUInt16BE(97)) throw new LayoutError(`inode ${ino}: bad record length`);
  return {
    type,
    mode: b.readUInt16BE(2) & 0o7777,
    nlink: b.readUInt32BE(4),
    uid: b.readUInt32BE(8),
    gid: b.readUInt32BE(12),
    size: BigInt(readU64(b, 20)),
    used: BigInt(readU64(b, 28)) * BLOCK_BIGINT,
    rdevMajor: b.readUInt32BE(36),
    rdevMinor: b.readUInt32BE(40),
    fsid,
    ino,
    generation: b.readUInt32BE(16),
    atime: readTime(b, 44),
    mtime: readTime(b, 56),
    ctime: readTime(b, 68),
  };
}

/** The parent field of an inode record (directories; checked by decodeInodeAttr first). */
export function inodeParent(b: Buffer): bigint {
  return b.readBigUInt64BE(89);
}

// ---- directory entry: key [0x02][dir u64][cookie u64], value [ino u64][type u8][name] ----

export function direntKey(dir: bigint, cookie: bigint): Buffer {
  const k = Buffer.allocUnsafe(17);
  k[0] = KeyPrefix.DIRENT;
  k.writeBigUInt64BE(dir, 1);
  k.writeBigUInt64BE(cookie, 9);
  return k;
}

export function direntCookie(key: Buffer): bigint {
  return key.readBigUInt64BE(9);
}

/** The 55-bit hash of a name, shifted to leave COLLISION_SLOTS indexes below it; never < 1. */
export function nameHashBase(name: Buffer): bigint {
  const h = hash('sha256', name, 'buffer'); // one-shot: no Hash object per name
  // 55 bits: cookies stay below 2^63 (some clients treat cookies as signed).
  let v = h.readBigUInt64BE(0) >> 9n;
  if (v === 0n) v = 1n;
  return v << 8n;
}

export interface DirentValue {
  ino: bigint;
  type: FileType;
  name: Buffer;
}

export function encodeDirent(ino: bigint, type: FileType, name: Buffer): Buffer {
  const b = Buffer.allocUnsafe(9 + name.length);
  b.writeBigUInt64BE(ino, 0);
  b[8] = type;
  name.copy(b, 9);
  return b;
}

export function decodeDirent(b: Buffer): DirentValue {
  if (b.length < 10 || b.length > 9 + MAX_NAME_BYTES) throw new LayoutError('bad directory entry length');
  const type = b[8]!;
  if (type < FileType.REG || type > FileType.FIFO) throw new LayoutError(`bad directory entry type ${type}`);
  return { ino: b.readBigUInt64BE(0), type, name: b.subarray(9) };
}

// ---- free inode number: key [0x03][ino u64], value [last generation u32] ----

export function freeInoKey(ino: bigint): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = KeyPrefix.FREE_INO;
  k.writeBigUInt64BE(ino, 1);
  return k;
}

export function encodeFreeIno(generation: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(generation >>> 0, 0);
  return b;
}

// ---- extent: key [0x04][ino u64][file block u64], value [volume block u64][count u32][crc32c u32 x count] ----

export function extentKey(ino: bigint, fileBlock: number): Buffer {
  const k = Buffer.allocUnsafe(17);
  k[0] = KeyPrefix.EXTENT;
  k.writeBigUInt64BE(ino, 1);
  writeU64(k, fileBlock, 9);
  return k;
}

export function extentKeyFileBlock(key: Buffer): number {
  return readU64(key, 9);
}

export interface ExtentRecord {
  fileBlock: number;
  volBlock: number;
  count: number;
  /** crc32c of each block, in order. */
  crcs: Uint32Array;
}

export function encodeExtent(e: ExtentRecord): Buffer {
  const b = Buffer.allocUnsafe(12 + 4 * e.count);
  writeU64(b, e.volBlock, 0);
  b.writeUInt32BE(e.count, 8);
  for (let i = 0; i < e.count; i++) b.writeUInt32BE(e.crcs[i]!, 12 + 4 * i);
  return b;
}

export function decodeExtent(fileBlock: number, b: Buffer): ExtentRecord {
  if (b.length < 16) throw new LayoutError('extent value too short');
  const volBlock = readU64(b, 0);
  const count = b.readUInt32BE(8);
  if (count < 1 || count > MAX_EXTENT_BLOCKS || b.length !== 12 + 4 * count) throw new LayoutError('bad extent length');
  const crcs = new Uint32Array(count);
  for (let i = 0; i < count; i++) crcs[i] = b.readUInt32BE(12 + 4 * i);
  return { fileBlock, volBlock, count, crcs };
}

/** Volume block of an extent value, read in place (the read path decodes no crc list). */
export function extentVolBlock(b: Buffer): number {
  return readU64(b, 0);
}

/** Block count of an extent value, checked against its length as decodeExtent does. */
export function extentBlockCount(b: Buffer): number {
  const count = b.length >= 16 ? b.readUInt32BE(8) : 0;
  if (count < 1 || count > MAX_EXTENT_BLOCKS || b.length !== 12 + 4 * count) throw new LayoutError('bad extent length');
  return count;
}

/** The crc32c of block `i` of an extent value (checked by extentBlockCount first). */
export function extentCrc(b: Buffer, i: number): number {
  return b.readUInt32BE(12 + 4 * i);
}

// ---- reply record: key [0x05][seq u64], value [version u8][key length u16][key][reply] ----

export const REPLY_VERSION = 1;
export const REPLY_HEADER_BYTES = 3;
/** The volume's value limit less the header: key and reply together fit in it. */
export const MAX_REPLY_RECORD_BYTES = MAX_VALUE_BYTES - REPLY_HEADER_BYTES;

export function replyKey(seq: bigint): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = KeyPrefix.REPLY;
  k.writeBigUInt64BE(seq, 1);
  return k;
}

export interface ReplyValue {
  key: Buffer;
  reply: Buffer;
}

export function encodeReply(key: Buffer, reply: Buffer): Buffer {
  if (key.length === 0 || key.length + reply.length > MAX_REPLY_RECORD_BYTES) {
    throw new RangeError(`reply record of ${key.length}+${reply.length} bytes: the key must be 1 byte or more and both at most ${MAX_REPLY_RECORD_BYTES}`);
  }
  const b = Buffer.allocUnsafe(REPLY_HEADER_BYTES + key.length + reply.length);
  b[0] = REPLY_VERSION;
  b.writeUInt16BE(key.length, 1);
  key.copy(b, REPLY_HEADER_BYTES);
  reply.copy(b, REPLY_HEADER_BYTES + key.length);
  return b;
}

/** Views into `b` (the caller copies what it keeps). */
export function decodeReply(b: Buffer): ReplyValue {
  if (b.length < REPLY_HEADER_BYTES + 1) throw new LayoutError('reply record too short');
  if (b[0] !== REPLY_VERSION) throw new LayoutError(`unknown reply record version ${b[0]}`);
  const klen = b.readUInt16BE(1);
  if (klen === 0 || REPLY_HEADER_BYTES + klen > b.length) throw new LayoutError('bad reply record key length');
  return { key: b.subarray(REPLY_HEADER_BYTES, REPLY_HEADER_BYTES + klen), reply: b.subarray(REPLY_HEADER_BYTES + klen) };
}

/** Key range [from, to) of all keys with a given prefix and 64-bit id. */
export function idRange(prefix: KeyPrefix, id: bigint): [Buffer, Buffer] {
  const from = Buffer.alloc(9);
  from[0] = prefix;
  from.writeBigUInt64BE(id, 1);
  const to = Buffer.alloc(9);
  if (id === 0xffff_ffff_ffff_ffffn) {
    to[0] = prefix + 1;
  } else {
    to[0] = prefix;
    to.writeBigUInt64BE(id + 1n, 1);
  }
  return [from, to];
}

export function prefixRange(prefix: KeyPrefix): [Buffer, Buffer] {
  return [Buffer.from([prefix]), Buffer.from([prefix + 1])];
}
