// Goal: the director's settings and the movers' FERRY_DIRECTOR_NETWORKS give the documented
// defaults and refuse malformed or contradictory values by name.
// Method: call the loaders with hand-made environments and compare fields or error text.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadMoverConfig } from './config';
import { loadDirectorConfig } from './director-config';

const STATIC = { FERRY_DIRECTOR_ROUTES: '1=127.0.0.1:2049,export:/export=1' };

describe('loadDirectorConfig', () => {
  it('gives the contract defaults', () => {
    expect(loadDirectorConfig(STATIC)).toEqual({
      nfsPort: 2049,
      portmapPort: 111,
      httpPort: 8049,
      bindAddress: '::',
      logLevel: 'info',
      holdMs: 15_000,
      maxClientBytes: 16 * 1024 * 1024,
      maxRecordBytes: 1024 * 1024 + 64 * 1024,
      staticRoutes: '1=127.0.0.1:2049,export:/export=1',
      databaseUrl: undefined,
      redisUrl: undefined,
      routeRefreshMs: 1000,
      busyPollUs: 0,
    });
  });
  it('reads every setting', () => {
    const c = loadDirectorConfig({
      DATABASE_URL: 'postgres://h/db',
      REDIS_URL: 'redis://h:6379',
      FERRY_NFS_PORT: '12049',
      FERRY_PORTMAP_PORT: '0',
      FERRY_HTTP_PORT: '18049',
      FERRY_BIND_ADDRESS: '127.0.0.1',
      FERRY_HOLD_MS: '2500',
      FERRY_DIRECTOR_CLIENT_BUFFER: '4M',
      FERRY_MAX_RECORD_SIZE: '2M',
      FERRY_ROUTE_REFRESH_MS: '250',
      FERRY_BUSY_POLL_US: '50',
      FERRY_LOG_LEVEL: 'debug',
    });
    expect(c).toMatchObject({ nfsPort: 12049, portmapPort: 0, httpPort: 18049, bindAddress: '127.0.0.1', holdMs: 2500, maxClientBytes: 4 << 20, maxRecordBytes: 2 << 20, routeRefreshMs: 250, busyPollUs: 50, logLevel: 'debug' });
    expect(c).toMatchObject({ databaseUrl: 'postgres://h/db', redisUrl: 'redis://h:6379', staticRoutes: undefined });
  });
  it('needs exactly one route source', () => {
    expect(() => loadDirectorConfig({})).toThrow(/no route source/);
    expect(() => loadDirectorConfig({ ...STATIC, DATABASE_URL: 'postgres://h/db' })).toThrow(/both set/);
  });
  it('refuses bad values by name', () => {
    expect(() => loadDirectorConfig({ ...STATIC, FERRY_HOLD_MS: 'soon' })).toThrow(/FERRY_HOLD_MS=soon/);
    expect(() => loadDirectorConfig({ ...STATIC, FERRY_NFS_PORT: '0' })).toThrow(ConfigError);
    expect(() => loadDirectorConfig({ ...STATIC, FERRY_DIRECTOR_CLIENT_BUFFER: '1M', FERRY_MAX_RECORD_SIZE: '2M' })).toThrow(/at least one record/);
    expect(() => loadDirectorConfig({ ...STATIC, DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadDirectorConfig({ ...STATIC, FERRY_LOG_LEVEL: 'loud' })).toThrow(/FERRY_LOG_LEVEL/);
  });
});

describe('FERRY_DIRECTOR_NETWORKS (mover)', () => {
  it('defaults to no trusted director and reads a CIDR list', () => {
    expect(loadMoverConfig({}).directorNetworks).toEqual([]);
    expect(loadMoverConfig({ FERRY_DIRECTOR_NETWORKS: ' 10.0.0.0/8, fd00::/8 ,192.168.1.7' }).directorNetworks).toEqual(['10.0.0.0/8', 'fd00::/8', '192.168.1.7']);
  });
  it('refuses a malformed entry by name', () => {
    expect(() => loadMoverConfig({ FERRY_DIRECTOR_NETWORKS: '10.0.0.0/33' })).toThrow(/FERRY_DIRECTOR_NETWORKS.*bad prefix/);
    expect(() => loadMoverConfig({ FERRY_DIRECTOR_NETWORKS: 'directors.local' })).toThrow(/FERRY_DIRECTOR_NETWORKS.*not an IP/);
    expect(() => loadMoverConfig({ FERRY_DIRECTOR_NETWORKS: '10.0.0.0/8,' })).toThrow(ConfigError);
  });
});
