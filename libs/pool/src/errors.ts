/** Why a pool operation was refused; stable so callers (CLI, control plane) can map it. */
export enum PoolErrorCode {
  /** The device carries no Ferry label in either copy. */
  NOT_A_POOL = 'NOT_A_POOL',
  /** The device is shorter than the size its label records. */
  TRUNCATED = 'TRUNCATED',
  /** Both label copies fail validation (checksum, fields). */
  BAD_LABEL = 'BAD_LABEL',
  /** The label or a slice header has a format version this code does not read. */
  UNSUPPORTED_VERSION = 'UNSUPPORTED_VERSION',
  /** Devices of different pools, or the same device twice. */
  MIXED_POOLS = 'MIXED_POOLS',
  DUPLICATE_DEVICE = 'DUPLICATE_DEVICE',
  /** A device index between 0 and the highest one present is missing. */
  MISSING_DEVICE = 'MISSING_DEVICE',
  /** A slice header fails validation, or two slices claim the same (filesystem, index). */
  BAD_SLICE_HEADER = 'BAD_SLICE_HEADER',
  /** A filesystem's slices are not contiguous from 0 (a device may be missing). */
  MISSING_SLICE = 'MISSING_SLICE',
  /** Create refused: the device already holds a label or other data (use force). */
  DEVICE_NOT_EMPTY = 'DEVICE_NOT_EMPTY',
  DEVICE_TOO_SMALL = 'DEVICE_TOO_SMALL',
  /** Opening, reading, writing or syncing the device failed. */
  DEVICE_ERROR = 'DEVICE_ERROR',
  FS_EXISTS = 'FS_EXISTS',
  FS_NOT_FOUND = 'FS_NOT_FOUND',
  /** The filesystem was destroyed while this Space was held. */
  FS_DESTROYED = 'FS_DESTROYED',
  INVALID_ARGUMENT = 'INVALID_ARGUMENT',
  READ_ONLY = 'READ_ONLY',
  CLOSED = 'CLOSED',
}

export class PoolError extends Error {
  constructor(
    readonly code: PoolErrorCode,
    message: string,
    /** The device the error is about, when there is one. */
    readonly devicePath?: string,
    options?: { cause?: unknown },
  ) {
    super(devicePath === undefined ? message : `${devicePath}: ${message}`, options);
    this.name = 'PoolError';
  }
}
