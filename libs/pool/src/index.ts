export type { BlockDevice, Space } from './block-device';
export { PoolFullError } from './block-device';
export { MemoryDevice } from './memory-device';
