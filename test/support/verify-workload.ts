/**
 * A verifying NFSv3 workload for failover tests: each worker creates files, writes them UNSTABLE
 * then COMMITs (resending the data when the COMMIT's write verifier differs from the WRITEs', as
 * RFC 1813 asks of a client), reads every file back right away, and records what was
 * acknowledged. It never retries an error: any error status fails the run, so "no client error"
 * means what it says. It reports the longest time any call took (the pause a client saw).
 */
import { createHash } from 'node:crypto';
import { Nfs3Client, Stable } from './nfs3-client';

export interface WorkloadReport {
  files: number;
  bytes: number;
  calls: number;
  errors: string[];
  /** Longest single call, ms, and when it ended (ms since epoch). */
  maxCallMs: number;
  maxCallAt: number;
  verifierChanges: number;
  /** Slow calls (over 200 ms): when they ended and how long they took. */
  slow: Array<{ at: number; ms: number; op: string }>;
}

export class VerifyWorkload {
  private stopped = false;
  private readonly acknowledged = new Map<string, string>(); // name -> sha256 of content
  private running: Promise<void>[] = [];
  readonly report: WorkloadReport = { files: 0, bytes: 0, calls: 0, errors: [], maxCallMs: 0, maxCallAt: 0, verifierChanges: 0, slow: [] };

  constructor(
    private readonly client: Nfs3Client,
    private readonly dir: Buffer,
    private readonly tag: string,
  ) {}

  static async start(host: string, port: number, exportPath: string, tag: string, workers = 2): Promise<VerifyWorkload> {
    const client = await Nfs3Client.mount(host, port, exportPath, { timeoutMs: 120_000 });
    const dir = await client.mkdir(client.root, `w-${tag}-${Date.now()}`);
    const w = new VerifyWorkload(client, dir, tag);
    for (let i = 0; i < workers; i++) w.running.push(w.loop(i));
    return w;
  }

  private async timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      const ms = performance.now() - t0;
      this.report.calls++;
      if (ms > this.report.maxCallMs) {
        this.report.maxCallMs = ms;
        this.report.maxCallAt = Date.now();
      }
      if (ms > 200) this.report.slow.push({ at: Date.now(), ms: Math.round(ms), op });
    }
  }

  private async loop(worker: number): Promise<void> {
    let n = 0;
    while (!this.stopped) {
      const name = `f-${worker}-${n++}`;
      const data = Buffer.alloc(32 * 1024 + ((n * 977) % 4096));
      for (let i = 0; i + 4 <= data.length; i += 4) data.writeUInt32LE((i * 2654435761 + n * 40503 + worker) >>> 0, i);
      try {
        const fh = await this.timed('CREATE', () => this.client.create(this.dir, name));
        for (let attempt = 0; ; attempt++) {
          const w = await this.timed('WRITE', () => this.client.write(fh, 0n, data, Stable.UNSTABLE));
          const verf = await this.timed('COMMIT', () => this.client.commit(fh));
          if (verf.equals(w.verf)) break;
          this.report.verifierChanges++;
          if (attempt > 5) throw new Error(`${name}: write verifier keeps changing`);
        }
        const back = await this.timed('READ', () => this.client.readAll(fh));
        if (!back.equals(data)) throw new Error(`${name}: read back ${back.length} bytes that differ from the ${data.length} written`);
        this.acknowledged.set(name, createHash('sha256').update(data).digest('hex'));
        this.report.files++;
        this.report.bytes += data.length;
      } catch (err) {
        this.report.errors.push(`${this.tag} ${name}: ${String(err)}`);
        return;
      }
    }
  }

  /** Stops the workers, then reads every acknowledged file back and compares. */
  async stopAndVerify(): Promise<WorkloadReport> {
    this.stopped = true;
    await Promise.all(this.running);
    for (const [name, sum] of this.acknowledged) {
      try {
        const { fh } = await this.client.lookup(this.dir, name);
        const got = createHash('sha256').update(await this.client.readAll(fh)).digest('hex');
        if (got !== sum) this.report.errors.push(`${this.tag} ${name}: content lost or changed after acknowledgement`);
      } catch (err) {
        this.report.errors.push(`${this.tag} ${name}: ${String(err)} at the final check`);
      }
    }
    await this.client.close();
    return this.report;
  }
}
