import { isIP } from 'node:net';

/**
 * Checks shared by the REST API and the CLI. Each returns `undefined` when the value is good and
 * a sentence saying what is wrong otherwise, so both can show the same message.
 */

/** Filesystem names: a lowercase letter or digit, then up to 62 of `[a-z0-9._-]`. */
export const FILESYSTEM_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const EXPORT_PATH_MAX_BYTES = 1024;

export function filesystemNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'name must be a string';
  if (!FILESYSTEM_NAME_PATTERN.test(name)) {
    return 'name must be 1 to 63 characters of a-z, 0-9, ".", "_" and "-", starting with a letter or digit';
  }
  return undefined;
}

/**
 * Export paths are what MOUNT clients ask for, compared byte for byte, so only the one normal
 * spelling is accepted: absolute, no empty, `.` or `..` segment (which would also let a path
 * look like another), no trailing slash except for `/`, no NUL, at most 1024 bytes (MNTPATHLEN,
 * RFC 1813 section 5.1).
 */
export function exportPathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'path must be a string';
  if (path.length === 0) return 'path must not be empty';
  if (Buffer.byteLength(path, 'utf8') > EXPORT_PATH_MAX_BYTES) return `path must be at most ${EXPORT_PATH_MAX_BYTES} bytes`;
  if (path.includes('\0')) return 'path must not contain NUL';
  if (!path.startsWith('/')) return 'path must be absolute (start with "/")';
  if (path === '/') return undefined;
  const segments = path.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '') return 'path must not contain empty segments ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return 'path must not contain "." or ".." segments';
  }
  return undefined;
}

/**
 * Client patterns of an export: `*` (anyone), an IPv4 or IPv6 address, or a CIDR block whose
 * prefix length fits the family. Host names are refused: an export rule must not depend on DNS.
 */
export function clientPatternProblem(pattern: unknown): string | undefined {
  if (typeof pattern !== 'string') return 'client must be a string';
  if (pattern === '*') return undefined;
  const slash = pattern.indexOf('/');
  const address = slash < 0 ? pattern : pattern.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return `client "${pattern}" must be "*", an IP address or a CIDR block`;
  if (slash < 0) return undefined;
  const prefix = pattern.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) {
    return `client "${pattern}": prefix length must be 0..${max}`;
  }
  return undefined;
}

export const isFilesystemName = (v: unknown): v is string => filesystemNameProblem(v) === undefined;
export const isExportPath = (v: unknown): v is string => exportPathProblem(v) === undefined;
export const isClientPattern = (v: unknown): v is string => clientPatternProblem(v) === undefined;
