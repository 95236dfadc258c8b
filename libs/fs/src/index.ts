// Public surface of @ferry/fs: the engine API, the storage contract, the engine entry points,
// fsck, and the in-memory volume double for tests of other libs.
export * from './api';
export * from './meta/volume';
export { formatFileSystem, openFileSystem, type FormatOptions } from './engine/format';
export type { OpenOptions, EngineLogger } from './engine/file-system';
export { checkFileSystem, type FsckReport, type FsckOptions } from './fsck/check';
export { MemoryVolume, type MemoryVolumeOptions } from './testing/memory-volume';
