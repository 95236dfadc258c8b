// Public surface of @ferry/nfs: the MOUNT v3 and NFS v3 programs (NfsService), export rules,
// file handles, the duplicate request cache, and the NFSv3/MOUNT wire types and codecs.
export { NfsService, DEFAULT_MAX_IO_BYTES, type NfsLogger, type NfsServiceOptions } from './nfs-service';
export { type ExportConfig, type User, ExportTable, clientAllowed, squash, normalizeExportPath } from './exports';
export {
  FileHandleCodec,
  peekHandleFsid,
  FH_LENGTH,
  FH_VERSION,
  FH_FSID_OFFSET,
  FH_INO_OFFSET,
  FH_GENERATION_OFFSET,
  FH_MAC_OFFSET,
  FH_MAC_BYTES,
  HANDLE_KEY_BYTES,
  type DecodedHandle,
} from './file-handle';
export { DuplicateRequestCache, type DrcKey, type DrcRecord, type DrcOptions, type DrcStats, type RunHooks } from './drc';
export { encodeDrcKey, decodeDrcKey } from './drc-record';
export { FS_ERROR_TO_NFSSTAT3, nfsStatFromFsError } from './status';
export { computeAccess } from './permission';
export * from './nfs3/xdr-types';
export { type Res, NfsError } from './nfs3/result';
export type { Nfs3Procedure, NfsCallContext, NfsStats, FailInfo, DecodeLimits } from './nfs3/procedure';
export * from './nfs3/procedures';
export * from './mount3/xdr-types';
export { MountList } from './mount3/mount-list';
export { MissBudget, MNT_MISS_LOADS_PER_S } from './mount3/miss-budget';
export * from './portmap';
