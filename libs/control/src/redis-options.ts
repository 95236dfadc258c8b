/**
 * REDIS_URL to the option object the Nest Redis transport takes (it builds its ioredis clients
 * from an object, not from a URL). redis://[user[:password]@]host[:port][/db]; rediss:// adds TLS.
 */
export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
}

export function redisOptionsFromUrl(url: string): RedisConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`REDIS_URL is not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`REDIS_URL must start with redis:// or rediss://, got ${u.protocol}//`);
  const opts: RedisConnection = { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379 };
  if (u.username) opts.username = decodeURIComponent(u.username);
  if (u.password) opts.password = decodeURIComponent(u.password);
  const db = u.pathname.replace(/^\//, '');
  if (db) {
    if (!/^\d+$/.test(db)) throw new Error(`REDIS_URL database must be a number, got ${JSON.stringify(db)}`);
    opts.db = Number(db);
  }
  if (u.protocol === 'rediss:') opts.tls = {};
  return opts;
}

/**
 * The namespace of one Ferry cluster in a Redis it may share with others: FERRY_REDIS_PREFIX
 * (default `ferry`). BullMQ keys start with it and event channels with `<prefix>.events.`, so two
 * clusters (or two test runs) on one Redis never take each other's jobs or events.
 */
export function redisPrefix(env: Record<string, string | undefined> = process.env): string {
  const p = env.FERRY_REDIS_PREFIX || 'ferry';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(p)) throw new Error(`FERRY_REDIS_PREFIX=${p}: letters, digits, '.', '_' and '-' (at most 64)`);
  return p;
}
