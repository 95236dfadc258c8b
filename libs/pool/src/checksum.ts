import { crc32c } from '@node-rs/crc32';
import { CHECKSUM_OFFSET } from './layout';

/** crc32c (Castagnoli, initial value 0) of a record's bytes [0, CHECKSUM_OFFSET). */
export function recordChecksum(record: Buffer): number {
  return crc32c(record.subarray(0, CHECKSUM_OFFSET)) >>> 0;
}

export function sealRecord(record: Buffer): void {
  record.writeUInt32LE(recordChecksum(record), CHECKSUM_OFFSET);
}

export function recordChecksumOk(record: Buffer): boolean {
  return record.readUInt32LE(CHECKSUM_OFFSET) === recordChecksum(record);
}
