/**
 * Duplicate request cache (RFC 1813 §4.4 "retransmitted non-idempotent requests"; the design is
 * knfsd's and Juszczak's "Improving the performance and correctness of an NFS server").
 *
 * Invariants:
 * - A key is client IP (never the port: clients reconnect from a new port and retransmit),
 *   xid, program, version and procedure. An entry also holds a checksum of the argument bytes,
 *   so a reused xid with other arguments is a new request, never an old reply.
 * - While an entry is in progress, a retransmit waits for the original's reply and sends the
 *   same bytes: the procedure runs at most once per entry.
 * - Completed entries are kept in completion order and the oldest are evicted first when
 *   either bound (entries, reply bytes) is exceeded; in-progress entries are never evicted.
 *   When in-progress entries alone fill the cache, new calls run uncached (bounded memory wins
 *   over deduplication under a flood).
 * - A failed execution (an exception, not an NFS error status) leaves no entry, and neither does
 *   a reply its caller says not to keep (`RunHooks.keep`: "not executed, try again" answers such
 *   as NFS3ERR_JUKEBOX, which a replay of the same xid must not get back from the cache).
 *
 * Which procedures: CREATE, MKDIR, SYMLINK, MKNOD, REMOVE, RMDIR, RENAME, LINK, SETATTR (their
 * `nonIdempotent` flag). WRITE is left out: running a WRITE again stores the same bytes at the
 * same offset, and caching it would put a checksum of up to wtmax bytes on the hottest path.
 *
 * Persistence (failover): a completed entry is a plain `DrcRecord`. `onRecord` (for the whole
 * cache) and `RunHooks.persist` (for one call) see each one as it completes, synchronously, so
 * a caller can write it with the operation it answers; `restore` loads records on the new
 * owner, so a retransmit after failover still gets the original reply.
 */
import { RpcReplyWriter } from '@ferry/oncrpc';
import type { XdrWriter } from '@ferry/xdr';

export interface DrcKey {
  client: string; // IP address
  xid: number;
  prog: number;
  vers: number;
  proc: number;
}

export interface DrcRecord extends DrcKey {
  argsChecksum: number;
  /** The reply body exactly as first sent (after the accepted-reply header). */
  reply: Buffer;
  completedAtMs: number;
}

export interface DrcOptions {
  maxEntries?: number;
  maxBytes?: number;
  clock?: () => number;
  onRecord?: (record: DrcRecord) => void;
}

/** Per-call hooks of `run`. */
export interface RunHooks {
  /** False: answer this call with the reply but keep no entry (default: keep). */
  keep?: (reply: Buffer) => boolean;
  /** Sees the record of this call as it completes (kept entries only). */
  persist?: (record: DrcRecord) => void;
}

interface Entry {
  key: DrcKey;
  argsChecksum: number;
  reply: Buffer | undefined; // undefined while in progress
  pending: Promise<Buffer> | undefined;
  completedAtMs: number;
}

export interface DrcStats {
  hits: number;
  waits: number;
  misses: number;
  evictions: number;
  bypasses: number;
}

function keyString(k: DrcKey): string {
  return `${k.client}|${k.xid >>> 0}|${k.prog}|${k.vers}|${k.proc}`;
}

export class DuplicateRequestCache {
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly clock: () => number;
  private readonly onRecord: ((r: DrcRecord) => void) | undefined;
  /** Completed entries in completion order (re-inserted on completion), in-progress anywhere. */
  private readonly entries = new Map<string, Entry>();
  private inProgress = 0;
  private replyBytes = 0;
  readonly stats: DrcStats = { hits: 0, waits: 0, misses: 0, evictions: 0, bypasses: 0 };

  constructor(opts: DrcOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 4096;
    this.maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
    this.clock = opts.clock ?? (() => 0);
    this.onRecord = opts.onRecord;
    if (!(this.maxEntries > 0 && this.maxBytes > 0)) throw new Error('DRC bounds must be positive');
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.replyBytes;
  }

  /**
   * Answers a call: from the cache when it is a retransmit, else by running `exec`, which
   * writes the reply body into `reply`; the bytes it wrote are remembered.
   */
  async run(key: DrcKey, argsChecksum: number, reply: XdrWriter, exec: () => Promise<void>, hooks?: RunHooks): Promise<'hit' | 'miss'> {
    const k = keyString(key);
    const found = this.entries.get(k);
    if (found !== undefined && found.argsChecksum === argsChecksum) {
      if (found.reply !== undefined) {
        this.stats.hits++;
        reply.fixedOpaque(found.reply);
        return 'hit';
      }
      if (found.pending !== undefined) {
        this.stats.waits++;
        reply.fixedOpaque(await found.pending);
        return 'hit';
      }
    }
    if (found !== undefined) this.drop(k, found); // same xid, other arguments: a new request
    if (this.inProgress >= this.maxEntries) {
      this.stats.bypasses++;
      await exec();
      return 'miss';
    }
    this.stats.misses++;
    let resolve!: (b: Buffer) => void;
    let reject!: (e: unknown) => void;
    const pending = new Promise<Buffer>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be waiting; the original caller sees the error itself.
    pending.catch(() => undefined);
    const entry: Entry = { key, argsChecksum, reply: undefined, pending, completedAtMs: 0 };
    this.entries.set(k, entry);
    this.inProgress++;
    const start = reply.length;
    try {
      await exec();
    } catch (err) {
      this.inProgress--;
      if (this.entries.get(k) === entry) this.entries.delete(k);
      reject(err);
      throw err;
    }
    this.inProgress--;
    // A spliced buffer (READ data) is not in `buf`: take the body with it, as one copy.
    const bytes = Buffer.from(reply instanceof RpcReplyWriter ? reply.flat(start) : reply.buf.subarray(start, reply.length));
    entry.reply = bytes;
    entry.pending = undefined;
    entry.completedAtMs = this.clock();
    resolve(bytes);
    if (this.entries.get(k) === entry) {
      this.entries.delete(k);
      if (hooks?.keep !== undefined && !hooks.keep(bytes)) return 'miss';
      // Re-inserted so iteration order is completion order (oldest completed first).
      this.entries.set(k, entry);
      this.replyBytes += bytes.length;
      if (this.onRecord !== undefined || hooks?.persist !== undefined) {
        const record: DrcRecord = { ...key, argsChecksum, reply: bytes, completedAtMs: entry.completedAtMs };
        this.onRecord?.(record);
        hooks?.persist?.(record);
      }
      this.evict();
    }
    return 'miss';
  }

  /** Completed entries, oldest first, for persistence. */
  snapshot(): DrcRecord[] {
    const out: DrcRecord[] = [];
    for (const e of this.entries.values()) {
      if (e.reply !== undefined) out.push({ ...e.key, argsChecksum: e.argsChecksum, reply: e.reply, completedAtMs: e.completedAtMs });
    }
    return out;
  }

  /** Loads records (oldest first) written by another owner of the filesystem. */
  restore(records: readonly DrcRecord[]): void {
    for (const r of records) {
      const key: DrcKey = { client: r.client, xid: r.xid, prog: r.prog, vers: r.vers, proc: r.proc };
      const k = keyString(key);
      const old = this.entries.get(k);
      if (old !== undefined) this.drop(k, old);
      const reply = Buffer.from(r.reply);
      this.entries.set(k, { key, argsChecksum: r.argsChecksum, reply, pending: undefined, completedAtMs: r.completedAtMs });
      this.replyBytes += reply.length;
    }
    this.evict();
  }

  private drop(k: string, e: Entry): void {
    // An in-progress entry is only replaced in the map; its runner still resolves its waiters.
    this.entries.delete(k);
    if (e.reply !== undefined) this.replyBytes -= e.reply.length;
  }

  private evict(): void {
    if (this.entries.size <= this.maxEntries && this.replyBytes <= this.maxBytes) return;
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.replyBytes <= this.maxBytes) break;
      if (e.reply === undefined) continue;
      this.drop(k, e);
      this.stats.evictions++;
    }
  }
}
