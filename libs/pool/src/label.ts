import { recordChecksumOk, sealRecord } from './checksum';
import {
  BLOCK_BYTES,
  CHECKSUM_OFFSET,
  DEVICE_ID_BYTES,
  FORMAT_VERSION,
  LABEL_MAGIC,
  LABEL_OFFSETS,
  Label,
  MAX_SLICE_INDEX,
  MIN_SLICE_BYTES,
  POOL_ID_BYTES,
  RECORD_BYTES,
  SLICE_ALIGN_BYTES,
} from './layout';

/** A device label as decoded (see FORMAT.md "Label"). */
export interface DeviceLabel {
  poolId: Buffer;
  deviceId: Buffer;
  deviceIndex: number;
  /** Bumped by each rewrite of the label; the newer valid copy wins. */
  generation: bigint;
  deviceSizeBytes: number;
  sliceBytes: number;
  firstSliceOffsetBytes: number;
  sliceCount: number;
}

export type LabelDecode =
  | { kind: 'ok'; label: DeviceLabel }
  /** No label magic: never labelled (or the magic itself was destroyed). */
  | { kind: 'absent' }
  | { kind: 'corrupt'; reason: string }
  | { kind: 'unsupported'; version: number };

/** Slices that fit on a device of this geometry. */
export function sliceCountFor(deviceSizeBytes: number, sliceBytes: number, firstSliceOffsetBytes: number): number {
  if (deviceSizeBytes < firstSliceOffsetBytes) return 0;
  return Math.floor((deviceSizeBytes - firstSliceOffsetBytes) / sliceBytes);
}

/** Returns why the geometry is invalid, or undefined when it is valid. */
export function checkGeometry(sliceBytes: number, firstSliceOffsetBytes: number): string | undefined {
  if (!Number.isSafeInteger(sliceBytes) || sliceBytes < MIN_SLICE_BYTES || sliceBytes % SLICE_ALIGN_BYTES !== 0) {
    return `slice size ${sliceBytes} must be a multiple of ${SLICE_ALIGN_BYTES} and at least ${MIN_SLICE_BYTES}`;
  }
  const labelsEnd = LABEL_OFFSETS[1] + BLOCK_BYTES;
  if (
    !Number.isSafeInteger(firstSliceOffsetBytes) ||
    firstSliceOffsetBytes < labelsEnd ||
    firstSliceOffsetBytes % SLICE_ALIGN_BYTES !== 0
  ) {
    return `first slice offset ${firstSliceOffsetBytes} must be a multiple of ${SLICE_ALIGN_BYTES} and at least ${labelsEnd}`;
  }
  return undefined;
}

/** One label block (BLOCK_BYTES: the record, then zeros) for copy `copyIndex`. */
export function encodeLabel(label: DeviceLabel, copyIndex: 0 | 1): Buffer {
  if (label.poolId.length !== POOL_ID_BYTES || label.deviceId.length !== DEVICE_ID_BYTES) {
    throw new RangeError('pool id and device id are 16 bytes');
  }
  const block = Buffer.alloc(BLOCK_BYTES);
  LABEL_MAGIC.copy(block, Label.MAGIC);
  block.writeUInt32LE(FORMAT_VERSION, Label.VERSION);
  block.writeUInt32LE(copyIndex, Label.COPY_INDEX);
  label.poolId.copy(block, Label.POOL_ID);
  label.deviceId.copy(block, Label.DEVICE_ID);
  block.writeUInt32LE(label.deviceIndex, Label.DEVICE_INDEX);
  block.writeUInt32LE(0, Label.FLAGS);
  block.writeBigUInt64LE(label.generation, Label.GENERATION);
  block.writeBigUInt64LE(BigInt(label.deviceSizeBytes), Label.DEVICE_SIZE_BYTES);
  block.writeBigUInt64LE(BigInt(label.sliceBytes), Label.SLICE_BYTES);
  block.writeBigUInt64LE(BigInt(label.firstSliceOffsetBytes), Label.FIRST_SLICE_OFFSET_BYTES);
  block.writeBigUInt64LE(BigInt(label.sliceCount), Label.SLICE_COUNT);
  sealRecord(block);
  return block;
}

function readSafe(record: Buffer, offset: number): number | undefined {
  const v = record.readBigUInt64LE(offset);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

/**
 * Decodes one label copy. `record` holds at least RECORD_BYTES read from LABEL_OFFSETS[copyIndex].
 * Never throws on bad bytes: every failure is a value naming its reason.
 */
export function decodeLabel(record: Buffer, copyIndex: 0 | 1): LabelDecode {
  if (record.length < RECORD_BYTES) return { kind: 'corrupt', reason: 'short label record' };
  if (!record.subarray(Label.MAGIC, Label.MAGIC + LABEL_MAGIC.length).equals(LABEL_MAGIC)) return { kind: 'absent' };
  // Checksum before version: magic, version and checksum position are fixed for every version,
  // so a bad checksum is damage, never a newer format.
  if (!recordChecksumOk(record)) return { kind: 'corrupt', reason: 'checksum mismatch' };
  const version = record.readUInt32LE(Label.VERSION);
  if (version !== FORMAT_VERSION) return { kind: 'unsupported', version };
  if (record.readUInt32LE(Label.COPY_INDEX) !== copyIndex) return { kind: 'corrupt', reason: 'copy index does not match its position' };
  if (record.readUInt32LE(Label.FLAGS) !== 0) return { kind: 'corrupt', reason: 'unknown flags' };
  for (let i = Label.END; i < CHECKSUM_OFFSET; i++) {
    if (record[i] !== 0) return { kind: 'corrupt', reason: 'reserved bytes are not zero' };
  }
  const deviceSizeBytes = readSafe(record, Label.DEVICE_SIZE_BYTES);
  const sliceBytes = readSafe(record, Label.SLICE_BYTES);
  const firstSliceOffsetBytes = readSafe(record, Label.FIRST_SLICE_OFFSET_BYTES);
  const sliceCount = readSafe(record, Label.SLICE_COUNT);
  if (deviceSizeBytes === undefined || sliceBytes === undefined || firstSliceOffsetBytes === undefined || sliceCount === undefined) {
    return { kind: 'corrupt', reason: 'size field out of range' };
  }
  const bad = checkGeometry(sliceBytes, firstSliceOffsetBytes);
  if (bad !== undefined) return { kind: 'corrupt', reason: bad };
  if (sliceCount < 1 || sliceCount - 1 > MAX_SLICE_INDEX || sliceCount !== sliceCountFor(deviceSizeBytes, sliceBytes, firstSliceOffsetBytes)) {
    return { kind: 'corrupt', reason: `slice count ${sliceCount} does not match the device geometry` };
  }
  return {
    kind: 'ok',
    label: {
      poolId: Buffer.from(record.subarray(Label.POOL_ID, Label.POOL_ID + POOL_ID_BYTES)),
      deviceId: Buffer.from(record.subarray(Label.DEVICE_ID, Label.DEVICE_ID + DEVICE_ID_BYTES)),
      deviceIndex: record.readUInt32LE(Label.DEVICE_INDEX),
      generation: record.readBigUInt64LE(Label.GENERATION),
      deviceSizeBytes,
      sliceBytes,
      firstSliceOffsetBytes,
      sliceCount,
    },
  };
}

export function sameLabel(a: DeviceLabel, b: DeviceLabel): boolean {
  return (
    a.poolId.equals(b.poolId) &&
    a.deviceId.equals(b.deviceId) &&
    a.deviceIndex === b.deviceIndex &&
    a.generation === b.generation &&
    a.deviceSizeBytes === b.deviceSizeBytes &&
    a.sliceBytes === b.sliceBytes &&
    a.firstSliceOffsetBytes === b.firstSliceOffsetBytes &&
    a.sliceCount === b.sliceCount
  );
}
