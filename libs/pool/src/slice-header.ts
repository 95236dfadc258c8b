import { recordChecksumOk, sealRecord } from './checksum';
import {
  BLOCK_BYTES,
  CHECKSUM_OFFSET,
  DEVICE_ID_BYTES,
  FORMAT_VERSION,
  MAX_FS_ID,
  MAX_SLICE_INDEX,
  POOL_ID_BYTES,
  RECORD_BYTES,
  SLICE_MAGIC,
  Slice,
  SliceState,
} from './layout';

/** A slice header as decoded (see FORMAT.md "Slice header"). */
export interface SliceHeader {
  state: SliceState;
  poolId: Buffer;
  deviceId: Buffer;
  deviceIndex: number;
  /** The slice's position on its device. */
  slot: number;
  /** 0n when free. */
  fsId: bigint;
  /** Index within the filesystem; 0 when free. */
  sliceIndex: number;
}

export type SliceHeaderDecode = { kind: 'ok'; header: SliceHeader } | { kind: 'corrupt'; reason: string } | { kind: 'unsupported'; version: number };

/** One slice header block (BLOCK_BYTES: the record, then zeros). */
export function encodeSliceHeader(h: SliceHeader): Buffer {
  if (h.poolId.length !== POOL_ID_BYTES || h.deviceId.length !== DEVICE_ID_BYTES) throw new RangeError('pool id and device id are 16 bytes');
  if (h.fsId < 0n || h.fsId > MAX_FS_ID) throw new RangeError(`filesystem id ${h.fsId} out of range`);
  const block = Buffer.alloc(BLOCK_BYTES);
  SLICE_MAGIC.copy(block, Slice.MAGIC);
  block.writeUInt32LE(FORMAT_VERSION, Slice.VERSION);
  block.writeUInt32LE(h.state, Slice.STATE);
  h.poolId.copy(block, Slice.POOL_ID);
  h.deviceId.copy(block, Slice.DEVICE_ID);
  block.writeUInt32LE(h.deviceIndex, Slice.DEVICE_INDEX);
  block.writeUInt32LE(h.slot, Slice.SLOT);
  block.writeBigUInt64LE(h.fsId, Slice.FS_ID);
  block.writeBigUInt64LE(BigInt(h.sliceIndex), Slice.SLICE_INDEX);
  sealRecord(block);
  return block;
}

/** Decodes a slice header record; never throws on bad bytes. Location checks are the caller's. */
export function decodeSliceHeader(record: Buffer): SliceHeaderDecode {
  if (record.length < RECORD_BYTES) return { kind: 'corrupt', reason: 'short slice header' };
  if (!record.subarray(Slice.MAGIC, Slice.MAGIC + SLICE_MAGIC.length).equals(SLICE_MAGIC)) return { kind: 'corrupt', reason: 'no slice header magic' };
  if (!recordChecksumOk(record)) return { kind: 'corrupt', reason: 'checksum mismatch' };
  const version = record.readUInt32LE(Slice.VERSION);
  if (version !== FORMAT_VERSION) return { kind: 'unsupported', version };
  for (let i = Slice.END; i < CHECKSUM_OFFSET; i++) {
    if (record[i] !== 0) return { kind: 'corrupt', reason: 'reserved bytes are not zero' };
  }
  const state = record.readUInt32LE(Slice.STATE);
  const fsId = record.readBigUInt64LE(Slice.FS_ID);
  const sliceIndexBig = record.readBigUInt64LE(Slice.SLICE_INDEX);
  if (state === SliceState.FREE) {
    if (fsId !== 0n || sliceIndexBig !== 0n) return { kind: 'corrupt', reason: 'free slice names a filesystem' };
  } else if (state === SliceState.USED) {
    if (fsId === 0n) return { kind: 'corrupt', reason: 'used slice with filesystem id 0' };
    if (sliceIndexBig > BigInt(MAX_SLICE_INDEX)) return { kind: 'corrupt', reason: 'slice index out of range' };
  } else {
    return { kind: 'corrupt', reason: `unknown state ${state}` };
  }
  return {
    kind: 'ok',
    header: {
      state,
      poolId: Buffer.from(record.subarray(Slice.POOL_ID, Slice.POOL_ID + POOL_ID_BYTES)),
      deviceId: Buffer.from(record.subarray(Slice.DEVICE_ID, Slice.DEVICE_ID + DEVICE_ID_BYTES)),
      deviceIndex: record.readUInt32LE(Slice.DEVICE_INDEX),
      slot: record.readUInt32LE(Slice.SLOT),
      fsId,
      sliceIndex: Number(sliceIndexBig),
    },
  };
}
