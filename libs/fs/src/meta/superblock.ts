import { crc32c } from '@node-rs/crc32';
import { BLOCK_BYTES, FORMAT_VERSION, MIN_FORMAT_VERSION, SB, SB_BYTES, SB_MAGIC, readU64, writeU64 } from './layout';

/**
 * The superblock: two copies at fixed blocks, written alternately (copy = seq % 2) at the end
 * of each checkpoint. The newest valid copy (magic, version, checksum) names the checkpoint
 * recovery starts from; a torn or bit-rotted copy is ignored in favour of the other.
 */
export interface Superblock {
  seq: bigint;
  volumeId: bigint;
  epoch: bigint;
  logGen: bigint;
  maxBytes: number;
  rootBlock: number;
  checkpointLsn: bigint;
  logStartBlock: number;
  logBlocks: number;
  logPosBytes: number;
  logLsn: bigint;
  pageBytes: number;
  groupBlocks: number;
  groupsPersisted: number;
  treeHeight: number;
  createdNs: bigint;
  formatSalt: bigint;
}

export function encodeSuperblock(sb: Superblock): Buffer {
  const buf = Buffer.alloc(BLOCK_BYTES);
  buf.writeUInt32LE(SB_MAGIC, SB.magic);
  buf.writeUInt32LE(FORMAT_VERSION, SB.version);
  buf.writeUInt32LE(BLOCK_BYTES, SB.blockBytes);
  buf.writeBigUInt64LE(sb.seq, SB.seq);
  buf.writeBigUInt64LE(sb.volumeId, SB.volumeId);
  buf.writeBigUInt64LE(sb.epoch, SB.epoch);
  buf.writeBigUInt64LE(sb.logGen, SB.logGen);
  writeU64(buf, SB.maxBytes, sb.maxBytes);
  writeU64(buf, SB.rootBlock, sb.rootBlock);
  buf.writeBigUInt64LE(sb.checkpointLsn, SB.checkpointLsn);
  writeU64(buf, SB.logStartBlock, sb.logStartBlock);
  writeU64(buf, SB.logBlocks, sb.logBlocks);
  writeU64(buf, SB.logPosBytes, sb.logPosBytes);
  buf.writeBigUInt64LE(sb.logLsn, SB.logLsn);
  buf.writeUInt32LE(sb.pageBytes, SB.pageBytes);
  buf.writeUInt32LE(sb.groupBlocks, SB.groupBlocks);
  buf.writeUInt32LE(sb.groupsPersisted, SB.groupsPersisted);
  buf.writeUInt32LE(sb.treeHeight, SB.treeHeight);
  buf.writeBigUInt64LE(sb.createdNs, SB.createdNs);
  buf.writeBigUInt64LE(sb.formatSalt, SB.formatSalt);
  buf.writeUInt32LE(crc32c(buf.subarray(8, SB_BYTES)), SB.crc);
  return buf;
}

/** Returns the decoded copy, or a reason it is not valid (never throws on bad bytes). */
export function decodeSuperblock(buf: Buffer): Superblock | string {
  if (buf.length < SB_BYTES) return 'short superblock';
  if (buf.readUInt32LE(SB.magic) !== SB_MAGIC) return 'bad magic';
  if (buf.readUInt32LE(SB.crc) !== crc32c(buf.subarray(8, SB_BYTES))) return 'checksum mismatch';
  const version = buf.readUInt32LE(SB.version);
  if (version < MIN_FORMAT_VERSION || version > FORMAT_VERSION) return `unsupported format version ${version}`;
  if (buf.readUInt32LE(SB.blockBytes) !== BLOCK_BYTES) return 'unsupported block size';
  try {
    return {
      seq: buf.readBigUInt64LE(SB.seq),
      volumeId: buf.readBigUInt64LE(SB.volumeId),
      epoch: buf.readBigUInt64LE(SB.epoch),
      logGen: buf.readBigUInt64LE(SB.logGen),
      maxBytes: readU64(buf, SB.maxBytes),
      rootBlock: readU64(buf, SB.rootBlock),
      checkpointLsn: buf.readBigUInt64LE(SB.checkpointLsn),
      logStartBlock: readU64(buf, SB.logStartBlock),
      logBlocks: readU64(buf, SB.logBlocks),
      logPosBytes: readU64(buf, SB.logPosBytes),
      logLsn: buf.readBigUInt64LE(SB.logLsn),
      pageBytes: buf.readUInt32LE(SB.pageBytes),
      groupBlocks: buf.readUInt32LE(SB.groupBlocks),
      groupsPersisted: buf.readUInt32LE(SB.groupsPersisted),
      treeHeight: buf.readUInt32LE(SB.treeHeight),
      createdNs: buf.readBigUInt64LE(SB.createdNs),
      formatSalt: buf.readBigUInt64LE(SB.formatSalt),
    };
  } catch (e) {
    return (e as Error).message;
  }
}
