// Goal: the directory-entry hash is the on-disk one (FORMAT-engine.md): SHA-256 of the name,
// its first 64 bits shifted down to 55, then up by 8 for the collision slots; never 0.
// Method: the FIPS 180-2 test vector for "abc" written out by hand, not computed here.
import { describe, expect, it } from 'vitest';
import { nameHashBase } from './layout';

describe('nameHashBase', () => {
  it('matches SHA-256("abc") = ba7816bf8f01cfea...', () => {
    expect(nameHashBase(Buffer.from('abc'))).toBe((0xba7816bf8f01cfean >> 9n) << 8n);
  });

  it('hashes the bytes, not a string form', () => {
    // SHA-256 of the empty string: e3b0c44298fc1c14...
    expect(nameHashBase(Buffer.alloc(0))).toBe((0xe3b0c44298fc1c14n >> 9n) << 8n);
  });
});
