/**
 * Process-level crash test: an NFS workload of FILE_SYNC writes, UNSTABLE writes + COMMIT and
 * metadata operations runs against a real data mover, which is killed with SIGKILL at random
 * moments and restarted. After every restart, everything the server acknowledged must be there
 * with the acknowledged bytes, nothing removed may come back, and (when asked) fsck of the
 * killed filesystem must be clean.
 *
 * The model only records an operation's effect once its reply arrived. Operations in flight at
 * the kill leave their names "uncertain": either outcome is accepted, but nothing else.
 */
import { randomBytes } from 'node:crypto';
import { Nfs3Client, NfsStatusError, Stable } from './nfs3-client';
import type { MoverProcess } from './mover-process';

type Entry = { state: 'certain'; content: Buffer } | { state: 'uncertain'; options: Array<Buffer | null | 'any'> };

export interface CrashRoundReport {
  round: number;
  killAfterMs: number;
  acknowledgedOps: number;
  filesChecked: number;
}

export class CrashWorkload {
  /** dir name -> file name -> what must be there. */
  readonly model = new Map<string, Map<string, Entry>>();
  private stop = false;
  acknowledged = 0;
  private seq = 0;

  constructor(
    private readonly mover: MoverProcess,
    private readonly workers = 4,
    private readonly rng: () => number = Math.random,
  ) {}

  private dirModel(d: string): Map<string, Entry> {
    let m = this.model.get(d);
    if (!m) this.model.set(d, (m = new Map()));
    return m;
  }

  /** Runs the workload until the mover dies (or stopAfterMs). Errors other than the lost
   * connection are failures. */
  async runUntilKilled(killAfterMs: number): Promise<void> {
    this.stop = false;
    const killer = (async () => {
      await new Promise((r) => setTimeout(r, killAfterMs));
      this.stop = true;
      await this.mover.kill9();
    })();
    const results = await Promise.allSettled(Array.from({ length: this.workers }, (_, i) => this.worker(i)));
    await killer;
    for (const r of results) {
      if (r.status === 'rejected' && !isConnectionLoss(r.reason)) throw r.reason;
    }
  }

  private async worker(id: number): Promise<void> {
    const client = await Nfs3Client.mount('127.0.0.1', this.mover.nfsPort, '/export', { timeoutMs: 60_000 });
    try {
      const dname = `w${id}`;
      let dir: Buffer;
      try {
        dir = (await client.lookup(client.root, dname)).fh;
      } catch (err) {
        if (!(err instanceof NfsStatusError)) throw err;
        dir = await client.mkdir(client.root, dname);
      }
      const files = this.dirModel(dname);
      while (!this.stop) await this.step(client, dir, files);
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  private pickCertain(files: Map<string, Entry>): [string, Buffer] | undefined {
    const certain = [...files].filter(([, e]) => e.state === 'certain') as Array<[string, { state: 'certain'; content: Buffer }]>;
    if (!certain.length) return undefined;
    const [name, e] = certain[Math.floor(this.rng() * certain.length)]!;
    return [name, e.content];
  }

  private async step(client: Nfs3Client, dir: Buffer, files: Map<string, Entry>): Promise<void> {
    const roll = this.rng();
    const existing = this.pickCertain(files);
    if (roll < 0.45 || !existing) {
      // Create a file and fill it, FILE_SYNC or UNSTABLE + COMMIT.
      const name = `f${this.seq++}`;
      const data = randomBytes(1 + Math.floor(this.rng() * 300_000));
      files.set(name, { state: 'uncertain', options: [null, Buffer.alloc(0)] });
      const fh = await client.create(dir, name);
      files.set(name, { state: 'certain', content: Buffer.alloc(0) });
      this.acknowledged++;
      const sync = this.rng() < 0.5;
      // FILE_SYNC chunks are each acknowledged: the file grows by whole chunks. UNSTABLE data is
      // only promised at COMMIT, so until then any content is possible.
      if (!sync) files.set(name, { state: 'uncertain', options: ['any'] });
      for (let off = 0; off < data.length; off += 65536) {
        const part = data.subarray(off, off + 65536);
        if (sync) files.set(name, { state: 'uncertain', options: [data.subarray(0, off), data.subarray(0, off + part.length)] });
        const res = await client.write(fh, BigInt(off), part, sync ? Stable.FILE_SYNC : Stable.UNSTABLE);
        if (res.count !== part.length) throw new Error(`short write ${res.count}`);
        if (sync && res.committed !== Stable.FILE_SYNC) throw new Error(`FILE_SYNC write answered committed=${res.committed}`);
        if (sync) {
          files.set(name, { state: 'certain', content: data.subarray(0, off + part.length) });
          this.acknowledged++;
        }
      }
      if (!sync) await client.commit(fh);
      files.set(name, { state: 'certain', content: data });
      this.acknowledged++;
    } else if (roll < 0.65) {
      // Overwrite a range in place, FILE_SYNC.
      const [name, old] = existing;
      const fh = (await client.lookup(dir, name)).fh;
      const off = Math.floor(this.rng() * (old.length + 1));
      const patch = randomBytes(1 + Math.floor(this.rng() * 20_000));
      const next = Buffer.alloc(Math.max(old.length, off + patch.length));
      old.copy(next);
      patch.copy(next, off);
      files.set(name, { state: 'uncertain', options: [old, next] });
      await client.write(fh, BigInt(off), patch, Stable.FILE_SYNC);
      files.set(name, { state: 'certain', content: next });
      this.acknowledged++;
    } else if (roll < 0.8) {
      const [name, content] = existing;
      const to = `r${this.seq++}`;
      files.set(name, { state: 'uncertain', options: [content, null] });
      files.set(to, { state: 'uncertain', options: [null, content] });
      await client.rename(dir, name, dir, to);
      files.delete(name);
      files.set(to, { state: 'certain', content });
      this.acknowledged++;
    } else {
      const [name, content] = existing;
      files.set(name, { state: 'uncertain', options: [content, null] });
      await client.remove(dir, name);
      files.delete(name);
      this.acknowledged++;
    }
  }

  /** Checks the restarted server against the model; uncertain names settle to what is found. */
  async verify(): Promise<number> {
    const client = await Nfs3Client.mount('127.0.0.1', this.mover.nfsPort, '/export', { timeoutMs: 60_000 });
    let checked = 0;
    try {
      for (const [dname, files] of this.model) {
        let dir: Buffer;
        try {
          dir = (await client.lookup(client.root, dname)).fh;
        } catch (err) {
          if ([...files.values()].some((e) => e.state === 'certain')) throw new Error(`directory ${dname} lost: ${String(err)}`);
          continue;
        }
        const present = new Set(await client.readdirNames(dir));
        for (const name of present) {
          if (!files.has(name)) throw new Error(`${dname}/${name} exists but was never acknowledged (or was removed)`);
        }
        for (const [name, e] of [...files]) {
          const found = present.has(name) ? await client.readAll((await client.lookup(dir, name)).fh) : null;
          if (e.state === 'certain') {
            if (found === null) throw new Error(`${dname}/${name} acknowledged but missing`);
            if (!found.equals(e.content)) throw new Error(`${dname}/${name}: ${found.length} bytes differ from the acknowledged ${e.content.length}`);
          } else {
            const ok = e.options.some((o) => o === 'any' ? found !== null : o === null ? found === null : found !== null && found.equals(o));
            if (!ok) throw new Error(`${dname}/${name}: found ${found === null ? 'nothing' : `${found.length} bytes`}, matching no possible outcome`);
            if (found === null) files.delete(name);
            else files.set(name, { state: 'certain', content: found });
          }
          checked++;
        }
      }
    } finally {
      await client.close();
    }
    return checked;
  }
}

function isConnectionLoss(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string };
  return e?.name === 'RpcConnectionError' || e?.code === 'ECONNREFUSED' || e?.code === 'ECONNRESET' || /closed|ECONNRE/.test(e?.message ?? '');
}
