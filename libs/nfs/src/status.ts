/**
 * The one mapping from engine error codes to nfsstat3 (RFC 1813 §2.6). It is a Record over
 * FsErrorCode, so an engine code added without a mapping here does not compile.
 */
import { FsErrorCode } from '@ferry/fs';
import { NfsStat3 } from './nfs3/xdr-types';

export const FS_ERROR_TO_NFSSTAT3: Readonly<Record<FsErrorCode, NfsStat3>> = {
  [FsErrorCode.PERM]: NfsStat3.NFS3ERR_PERM,
  [FsErrorCode.NOENT]: NfsStat3.NFS3ERR_NOENT,
  [FsErrorCode.IO]: NfsStat3.NFS3ERR_IO,
  [FsErrorCode.ACCES]: NfsStat3.NFS3ERR_ACCES,
  [FsErrorCode.EXIST]: NfsStat3.NFS3ERR_EXIST,
  [FsErrorCode.XDEV]: NfsStat3.NFS3ERR_XDEV,
  [FsErrorCode.NOTDIR]: NfsStat3.NFS3ERR_NOTDIR,
  [FsErrorCode.ISDIR]: NfsStat3.NFS3ERR_ISDIR,
  [FsErrorCode.INVAL]: NfsStat3.NFS3ERR_INVAL,
  [FsErrorCode.FBIG]: NfsStat3.NFS3ERR_FBIG,
  [FsErrorCode.NOSPC]: NfsStat3.NFS3ERR_NOSPC,
  [FsErrorCode.ROFS]: NfsStat3.NFS3ERR_ROFS,
  [FsErrorCode.MLINK]: NfsStat3.NFS3ERR_MLINK,
  [FsErrorCode.NAMETOOLONG]: NfsStat3.NFS3ERR_NAMETOOLONG,
  [FsErrorCode.NOTEMPTY]: NfsStat3.NFS3ERR_NOTEMPTY,
  [FsErrorCode.STALE]: NfsStat3.NFS3ERR_STALE,
  [FsErrorCode.BAD_COOKIE]: NfsStat3.NFS3ERR_BAD_COOKIE,
  [FsErrorCode.NOTSUPP]: NfsStat3.NFS3ERR_NOTSUPP,
  [FsErrorCode.NOT_SYNC]: NfsStat3.NFS3ERR_NOT_SYNC,
  [FsErrorCode.JUKEBOX]: NfsStat3.NFS3ERR_JUKEBOX,
};

export function nfsStatFromFsError(code: FsErrorCode): NfsStat3 {
  // An unknown code can only come from an engine built against another api.ts; be loud but safe.
  return FS_ERROR_TO_NFSSTAT3[code] ?? NfsStat3.NFS3ERR_SERVERFAULT;
}
