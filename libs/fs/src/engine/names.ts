/**
 * Name rules shared by every namespace operation (RFC 1813 §3.3 filename3; POSIX for "." and
 * ".."): a component is 1..255 bytes of UTF-8 without '/' or NUL.
 */
import { FsError, FsErrorCode } from '../api';
import { MAX_NAME_BYTES, MAX_SYMLINK_BYTES } from './layout';

export function isDotName(name: string): boolean {
  return name === '.' || name === '..';
}

/** Validates a component and returns its bytes; "." and ".." pass (callers decide). */
export function nameBytes(name: string): Buffer {
  if (name.length === 0) throw new FsError(FsErrorCode.INVAL, 'empty name');
  if (name.includes('/') || name.includes('\0')) throw new FsError(FsErrorCode.INVAL, 'name contains "/" or NUL');
  const b = Buffer.from(name, 'utf8');
  if (b.length > MAX_NAME_BYTES) throw new FsError(FsErrorCode.NAMETOOLONG, `name is ${b.length} bytes`);
  return b;
}

export function symlinkTargetBytes(target: string): Buffer {
  if (target.length === 0) throw new FsError(FsErrorCode.INVAL, 'empty symlink target');
  if (target.includes('\0')) throw new FsError(FsErrorCode.INVAL, 'symlink target contains NUL');
  const b = Buffer.from(target, 'utf8');
  if (b.length > MAX_SYMLINK_BYTES) throw new FsError(FsErrorCode.NAMETOOLONG, `symlink target is ${b.length} bytes`);
  return b;
}
