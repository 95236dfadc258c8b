// Goal: the environment parser gives the documented defaults and refuses malformed values by name.
// Method: call loadMoverConfig with hand-made environments and compare fields or error text.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadControlConfig, loadMoverConfig, parseSize } from './config';

describe('loadMoverConfig', () => {
  it('gives the embedded defaults', () => {
    const c = loadMoverConfig({}, '/srv');
    expect(c).toMatchObject({ dataDir: '/srv/data', nfsPort: 2049, portmapPort: 111, httpPort: 8049, logLevel: 'info', scrubBytesPerSecond: 256 * 1024 * 1024, readBufferBytes: 32 * 1024 * 1024 });
  });
  it('reads every setting', () => {
    const c = loadMoverConfig(
      { FERRY_DATA_DIR: '/d', FERRY_NFS_PORT: '20490', FERRY_PORTMAP_PORT: '0', FERRY_HTTP_PORT: '18080', FERRY_POOL_SIZE: '2G', FERRY_FS_SIZE: '1G', FERRY_BUSY_POLL_US: '75', FERRY_SCRUB_RATE: '16M', FERRY_READ_BUFFERS: '0' },
      '/srv',
    );
    expect(c).toMatchObject({ dataDir: '/d', nfsPort: 20490, portmapPort: 0, httpPort: 18080, poolBytes: 2 * 1024 ** 3, fsBytes: 1024 ** 3, busyPollUs: 75, scrubBytesPerSecond: 16 * 1024 ** 2, readBufferBytes: 0 });
  });
  it('reads the scrub rate per second, 0 for unlimited', () => {
    expect(loadMoverConfig({ FERRY_SCRUB_RATE: '0' }).scrubBytesPerSecond).toBe(0);
    expect(loadMoverConfig({ FERRY_SCRUB_RATE: '100M/s' }).scrubBytesPerSecond).toBe(100 * 1024 ** 2);
    expect(loadMoverConfig({ FERRY_SCRUB_RATE: '1048576' }).scrubBytesPerSecond).toBe(1024 ** 2);
    expect(() => loadMoverConfig({ FERRY_SCRUB_RATE: 'fast' })).toThrow(/FERRY_SCRUB_RATE=fast/);
    expect(() => loadMoverConfig({ FERRY_SCRUB_RATE: '-1M' })).toThrow(ConfigError);
  });
  it('refuses bad ports and sizes by name', () => {
    expect(() => loadMoverConfig({ FERRY_NFS_PORT: 'abc' })).toThrow(/FERRY_NFS_PORT=abc/);
    expect(() => loadMoverConfig({ FERRY_NFS_PORT: '0' })).toThrow(ConfigError);
    expect(() => loadMoverConfig({ FERRY_HTTP_PORT: '70000' })).toThrow(/out of range/);
    expect(() => loadMoverConfig({ FERRY_LOG_LEVEL: 'loud' })).toThrow(/FERRY_LOG_LEVEL/);
    expect(() => parseSize('X', '12Q')).toThrow(/not a size/);
    expect(() => loadMoverConfig({ FERRY_BUSY_POLL_US: '20000' })).toThrow(/FERRY_BUSY_POLL_US=20000/);
    expect(() => loadMoverConfig({ FERRY_BUSY_POLL_US: '-1' })).toThrow(ConfigError);
  });
  it('parses binary suffixes', () => {
    expect(parseSize('X', '512M')).toBe(512 * 1024 * 1024);
    expect(parseSize('X', '1TiB')).toBe(1024 ** 4);
    expect(parseSize('X', '4096')).toBe(4096);
  });
});

describe('loadControlConfig', () => {
  it('is embedded without URLs', () => {
    expect(loadControlConfig({})).toEqual({ databaseUrl: undefined, redisUrl: undefined, moverName: undefined });
  });
  it('reads the URLs and the mover name', () => {
    const c = loadControlConfig({ DATABASE_URL: 'postgres://u@127.0.0.1:5432/ferry', REDIS_URL: 'redis://127.0.0.1:6379', FERRY_MOVER_NAME: 'mover-0' });
    expect(c).toEqual({ databaseUrl: 'postgres://u@127.0.0.1:5432/ferry', redisUrl: 'redis://127.0.0.1:6379', moverName: 'mover-0' });
  });
  it('refuses malformed values by name', () => {
    expect(() => loadControlConfig({ DATABASE_URL: 'not a url' })).toThrow(/DATABASE_URL: not a URL/);
    expect(() => loadControlConfig({ DATABASE_URL: 'mysql://x/y' })).toThrow(/DATABASE_URL: expected a postgres/);
    expect(() => loadControlConfig({ REDIS_URL: 'http://x' })).toThrow(/REDIS_URL/);
    expect(() => loadControlConfig({ FERRY_MOVER_NAME: 'a b' })).toThrow(/FERRY_MOVER_NAME/);
  });
});
