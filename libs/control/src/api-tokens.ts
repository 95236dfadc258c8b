import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API token secrets: `ferry_` and 43 base64url characters (32 random bytes). Only the sha256 of
 * a secret is stored; the secret is shown once, at creation.
 */
export const TOKEN_PATTERN = /^ferry_[A-Za-z0-9_-]{43}$/;
/** Characters of the secret kept in clear (`prefix` column) so tokens can be told apart. */
export const TOKEN_PREFIX_LENGTH = 10;

export function generateToken(random: (n: number) => Buffer = randomBytes): string {
  return `ferry_${random(32).toString('base64url')}`;
}

/** Hex sha256 of a secret: what the database stores and looks tokens up by. */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function tokenPrefix(secret: string): string {
  return secret.slice(0, TOKEN_PREFIX_LENGTH);
}

/** Compares two hex hashes in constant time (no early exit on the first differing byte). */
export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) return false;
  return timingSafeEqual(x, y);
}

/** Whether a presented secret matches a stored hash (constant time in the secret). */
export function tokenMatches(secret: string, storedHash: string): boolean {
  return hashesEqual(hashToken(secret), storedHash);
}
