/**
 * On-disk layout of a Ferry pool device, format version 1 (prose: libs/pool/FORMAT.md).
 * Only layout constants live here; encoders and decoders are in label.ts and slice-header.ts.
 * All integers are little-endian.
 */

export const FORMAT_VERSION = 1;

/** Size of one label copy and of one slice header on the device. */
export const BLOCK_BYTES = 4096;
/**
 * The checksummed record at the start of a label block or slice header block. It fits in one
 * 512-byte sector so a torn write can never leave half a record (sector writes are atomic).
 */
export const RECORD_BYTES = 512;
/** crc32c of record bytes [0, CHECKSUM_OFFSET) is stored at CHECKSUM_OFFSET (u32). */
export const CHECKSUM_OFFSET = RECORD_BYTES - 4;

/** Label copy k lives at LABEL_OFFSETS[k]. */
export const LABEL_OFFSETS = [0, 4096] as const;
/** Bytes inspected when deciding whether a device is empty (both label blocks). */
export const LABEL_AREA_BYTES = 8192;
export const DEFAULT_FIRST_SLICE_OFFSET_BYTES = 1024 * 1024;
export const DEFAULT_SLICE_BYTES = 256 * 1024 * 1024;
/** A slice is at least its header plus one block of data. */
export const MIN_SLICE_BYTES = 2 * BLOCK_BYTES;
/** Slices and the first slice offset are multiples of this. */
export const SLICE_ALIGN_BYTES = BLOCK_BYTES;

export const LABEL_MAGIC = Buffer.from('FERRYLBL', 'ascii');
export const SLICE_MAGIC = Buffer.from('FERRYSLC', 'ascii');

/** Label record fields: byte offsets within the record. */
export const Label = {
  MAGIC: 0, // 8 bytes ASCII "FERRYLBL"
  VERSION: 8, // u32
  COPY_INDEX: 12, // u32, 0 or 1: which of the two copies this is
  POOL_ID: 16, // 16 bytes
  DEVICE_ID: 32, // 16 bytes
  DEVICE_INDEX: 48, // u32
  FLAGS: 52, // u32, 0 in version 1
  GENERATION: 56, // u64, the newer valid copy wins
  DEVICE_SIZE_BYTES: 64, // u64
  SLICE_BYTES: 72, // u64
  FIRST_SLICE_OFFSET_BYTES: 80, // u64
  SLICE_COUNT: 88, // u64
  END: 96, // bytes [END, CHECKSUM_OFFSET) are zero in version 1
} as const;

/** Slice header record fields: byte offsets within the record. */
export const Slice = {
  MAGIC: 0, // 8 bytes ASCII "FERRYSLC"
  VERSION: 8, // u32
  STATE: 12, // u32, SliceState
  POOL_ID: 16, // 16 bytes
  DEVICE_ID: 32, // 16 bytes
  DEVICE_INDEX: 48, // u32
  SLOT: 52, // u32, the slice's position on its device (guards against misdirected writes)
  FS_ID: 56, // u64, 0 when free
  SLICE_INDEX: 64, // u64, index within the filesystem, 0 when free
  END: 72,
} as const;

export enum SliceState {
  FREE = 1,
  USED = 2,
}

export const POOL_ID_BYTES = 16;
export const DEVICE_ID_BYTES = 16;
/** Slice indexes and slot numbers are kept below 2^32 (u32 on the device for slots). */
export const MAX_SLICE_INDEX = 0xffff_ffff;
export const MAX_FS_ID = (1n << 64n) - 1n;
