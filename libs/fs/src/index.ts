// Public surface of @ferry/fs: the engine API, the metadata volume (storage contract and its
// implementation), the engine entry points, fsck, and the in-memory volume double for tests of
// other libs.
export * from './api';
export * from './meta';
export { formatFileSystem, openFileSystem, type FileSystemFormatOptions } from './engine/format';
export type { FileSystemOpenOptions, EngineLogger, ReadaheadOutcome } from './engine/file-system';
export { MAX_REPLY_RECORD_BYTES } from './engine/layout';
export { checkFileSystem, type FsckReport, type FsckOptions } from './fsck/check';
export { MemoryVolume, type MemoryVolumeOptions } from './testing/memory-volume';
export { scrubFileSystem, type ScrubDamage, type ScrubOptions, type ScrubProgress, type ScrubResult } from './scrub';
