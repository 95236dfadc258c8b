import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

/** Upper bounds (seconds) of the RPC latency histogram; +Inf is implied. */
export const RPC_LATENCY_BUCKETS_S: readonly number[] = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
]);

/** The counts of one (program, procedure): plain numbers, so recording a call allocates nothing. */
class CallSlot {
  ok = 0;
  error = 0;
  count = 0;
  sumS = 0;
  /** Calls per bucket (not cumulative); the last entry counts those above every bound. */
  readonly buckets = new Float64Array(RPC_LATENCY_BUCKETS_S.length + 1);

  constructor(
    readonly program: string,
    readonly procedure: string,
  ) {}
}

interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

interface Snapshot {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Sample[];
}

/**
 * What prom-client's registry asks of a metric (name, help, type, get, reset). The two RPC
 * metrics are views over one table of CallSlots instead of prom-client's Counter and
 * Histogram, which build and hash a label object on every call (about 1 µs per RPC, a few
 * per cent of a GETATTR); here a call is two Map lookups of interned procedure names and a
 * few additions, and the exposition text is the same.
 */
class SlotView {
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    private readonly owner: RpcCallMetrics,
  ) {}

  get(): Promise<Snapshot> {
    const values = this.type === 'counter' ? this.owner.counterSamples() : this.owner.histogramSamples(this.name);
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.owner.reset();
  }
}

/** `ferry_rpc_calls_total` and `ferry_rpc_duration_seconds`, recorded per call at low cost. */
export class RpcCallMetrics {
  private readonly byProgram = new Map<string, Map<string, CallSlot>>();

  constructor(registry: Registry) {
    const views = [
      new SlotView(
        'ferry_rpc_calls_total',
        'RPC calls answered, by program, procedure and result (ok = procedure ran; error = RPC-level failure)',
        'counter',
        this,
      ),
      new SlotView('ferry_rpc_duration_seconds', 'Time from a decoded call to its encoded reply, by program and procedure', 'histogram', this),
    ];
    // The registry formats whatever get() returns; its types name only its own classes.
    for (const v of views) registry.registerMetric(v as unknown as Metric);
  }

  /** One answered call. Program and procedure names come from the RPC tables (bounded sets). */
  record(program: string, procedure: string, ok: boolean, durationNs: bigint | number): void {
    let procs = this.byProgram.get(program);
    if (procs === undefined) {
      procs = new Map();
      this.byProgram.set(program, procs);
    }
    let slot = procs.get(procedure);
    if (slot === undefined) {
      slot = new CallSlot(program, procedure);
      procs.set(procedure, slot);
    }
    if (ok) slot.ok++;
    else slot.error++;
    const seconds = Number(durationNs) / 1e9;
    slot.count++;
    slot.sumS += seconds;
    let i = 0;
    while (i < RPC_LATENCY_BUCKETS_S.length && seconds > RPC_LATENCY_BUCKETS_S[i]!) i++;
    slot.buckets[i]!++;
  }

  reset(): void {
    this.byProgram.clear();
  }

  private *slots(): Iterable<CallSlot> {
    for (const procs of this.byProgram.values()) yield* procs.values();
  }

  /** @internal the counter's samples, one per result seen (as prom-client's Counter shows them). */
  counterSamples(): Sample[] {
    const out: Sample[] = [];
    for (const s of this.slots()) {
      if (s.ok > 0) out.push({ labels: { program: s.program, procedure: s.procedure, result: 'ok' }, value: s.ok });
      if (s.error > 0) out.push({ labels: { program: s.program, procedure: s.procedure, result: 'error' }, value: s.error });
    }
    return out;
  }

  /** @internal the histogram's samples: cumulative buckets, +Inf, sum and count per slot. */
  histogramSamples(name: string): Sample[] {
    const out: Sample[] = [];
    for (const s of this.slots()) {
      let acc = 0;
      for (let i = 0; i < RPC_LATENCY_BUCKETS_S.length; i++) {
        acc += s.buckets[i]!;
        out.push({ metricName: `${name}_bucket`, labels: { le: RPC_LATENCY_BUCKETS_S[i]!, program: s.program, procedure: s.procedure }, value: acc });
      }
      out.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', program: s.program, procedure: s.procedure }, value: s.count });
      out.push({ metricName: `${name}_sum`, labels: { program: s.program, procedure: s.procedure }, value: s.sumS });
      out.push({ metricName: `${name}_count`, labels: { program: s.program, procedure: s.procedure }, value: s.count });
    }
    return out;
  }
}

/**
 * Prometheus metrics of a data mover. Labels are bounded sets (program and procedure names
 * from the RPC tables, a fixed status set), never client-controlled strings.
 */
export class MoverMetrics {
  readonly registry = new Registry();
  /** Calls and their latency, by program and procedure (recorded once per RPC). */
  readonly rpcCalls: RpcCallMetrics;
  readonly bytesRead: Counter;
  readonly bytesWritten: Counter;
  readonly connections: Gauge;
  readonly rpcErrors: Counter;
  readonly readahead: Counter<'outcome'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ferry_' });
    this.rpcCalls = new RpcCallMetrics(this.registry);
    this.bytesRead = new Counter({ name: 'ferry_nfs_read_bytes_total', help: 'File bytes returned by READ', registers: [this.registry] });
    this.bytesWritten = new Counter({ name: 'ferry_nfs_written_bytes_total', help: 'File bytes accepted by WRITE', registers: [this.registry] });
    this.connections = new Gauge({ name: 'ferry_rpc_connections', help: 'Open RPC TCP connections', registers: [this.registry] });
    this.rpcErrors = new Counter({ name: 'ferry_rpc_internal_errors_total', help: 'Calls that failed with an internal fault', registers: [this.registry] });
    this.readahead = new Counter({
      name: 'ferry_fs_readahead_chunks_total',
      help: 'Chunks of files read ahead for sequential readers: started, then used by a READ or dropped unused',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
  }
}
