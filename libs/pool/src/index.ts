export type { BlockDevice, Space } from './block-device';
export { PoolFullError } from './block-device';
export { MemoryDevice } from './memory-device';
export { FileDevice, type FileDeviceOptions } from './file-device';
export { PoolError, PoolErrorCode } from './errors';
export {
  Pool,
  type AddDeviceOptions,
  type DeviceStats,
  type FilesystemInfo,
  type PoolCreateOptions,
  type PoolCoordinator,
  type PoolOpenOptions,
  type PoolStats,
} from './pool';
export { PoolSpace } from './space';
export { FenceClosedError, WriteFence } from './write-fence';
export { importPool, type ImportedPool } from './import';
export { CrashDevice, type CrashDeviceOptions, DeviceFaultError } from './testing/crash-device';
export { seededRandom } from './testing/seeded-random';
