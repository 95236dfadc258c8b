/**
 * Goal: the shared checks accept exactly the documented spellings of names, export paths and
 * client patterns, and token helpers produce and recognise the documented secrets.
 * Method: tables of good and bad values, including path traversal and boundary lengths.
 */
import { describe, expect, it } from 'vitest';
import { generateToken, hashToken, hashesEqual, TOKEN_PATTERN, tokenMatches, tokenPrefix } from './api-tokens';
import { InProcessEventBus } from './events';
import { clientPatternProblem, exportPathProblem, filesystemNameProblem } from './validation';

describe('filesystem names', () => {
  it.each(['a', 'fs0', '0', 'home.backup', 'a_b-c', 'a'.repeat(63)])('accepts %s', (n) => {
    expect(filesystemNameProblem(n)).toBeUndefined();
  });
  it.each(['', 'A', '-a', '.a', '_a', 'a b', 'a/b', 'a'.repeat(64), 'ä', 7])('refuses %s', (n) => {
    expect(filesystemNameProblem(n)).toMatch(/name must/);
  });
});

describe('export paths', () => {
  it.each(['/', '/export', '/a/b/c', '/a.b/..c/.d', '/' + 'x'.repeat(1023)])('accepts %s', (p) => {
    expect(exportPathProblem(p)).toBeUndefined();
  });
  it.each([
    ['', /empty/],
    ['export', /absolute/],
    ['/a/../b', /"\.\."/],
    ['/a/./b', /"\."/],
    ['/..', /"\.\."/],
    ['//', /empty segments/],
    ['/a//b', /empty segments/],
    ['/a/', /empty segments/],
    ['/a\0b', /NUL/],
    ['/' + 'x'.repeat(1024), /1024 bytes/],
    ['/' + 'é'.repeat(512), /1024 bytes/],
  ])('refuses %j', (p, why) => {
    expect(exportPathProblem(p)).toMatch(why);
  });
});

describe('client patterns', () => {
  it.each(['*', '127.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '::1', 'fd00::/8', '::/0', '2001:db8::1/128'])('accepts %s', (c) => {
    expect(clientPatternProblem(c)).toBeUndefined();
  });
  it.each(['', 'host.example', '10.0.0.0/33', '::1/129', '10.0.0.1/', '10.0.0.1/x', '300.1.1.1', '**', '10.0.0.0/8/8'])(
    'refuses %j',
    (c) => {
      expect(clientPatternProblem(c)).toBeDefined();
    },
  );
});

describe('api tokens', () => {
  it('are ferry_ and 43 base64url characters, hashed with sha256', () => {
    const t = generateToken();
    expect(t).toMatch(TOKEN_PATTERN);
    expect(generateToken()).not.toBe(t);
    expect(hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(tokenMatches(t, hashToken(t))).toBe(true);
    expect(tokenMatches(t + 'x', hashToken(t))).toBe(false);
    expect(hashesEqual('ab', 'abc')).toBe(false);
    expect(tokenPrefix(t)).toBe(t.slice(0, 10));
  });
});

describe('InProcessEventBus', () => {
  it('delivers after publish returns, and a failing handler does not stop the others', async () => {
    const errors: unknown[] = [];
    const bus = new InProcessEventBus((_topic, err) => errors.push(err));
    const got: unknown[] = [];
    bus.subscribe('t', () => {
      throw new Error('bad handler');
    });
    bus.subscribe('t', (p) => got.push(p));
    await bus.publish('t', { n: 1 });
    expect(got).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([{ n: 1 }]);
    expect(errors).toHaveLength(1);
  });
});
