import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of a data mover. Labels are bounded sets (program and procedure names
 * from the RPC tables, a fixed status set), never client-controlled strings.
 */
export class MoverMetrics {
  readonly registry = new Registry();
  readonly calls: Counter<'program' | 'procedure' | 'result'>;
  readonly latency: Histogram<'program' | 'procedure'>;
  readonly bytesRead: Counter;
  readonly bytesWritten: Counter;
  readonly connections: Gauge;
  readonly rpcErrors: Counter;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ferry_' });
    this.calls = new Counter({
      name: 'ferry_rpc_calls_total',
      help: 'RPC calls answered, by program, procedure and result (ok = procedure ran; error = RPC-level failure)',
      labelNames: ['program', 'procedure', 'result'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'ferry_rpc_duration_seconds',
      help: 'Time from a decoded call to its encoded reply, by program and procedure',
      labelNames: ['program', 'procedure'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.bytesRead = new Counter({ name: 'ferry_nfs_read_bytes_total', help: 'File bytes returned by READ', registers: [this.registry] });
    this.bytesWritten = new Counter({ name: 'ferry_nfs_written_bytes_total', help: 'File bytes accepted by WRITE', registers: [this.registry] });
    this.connections = new Gauge({ name: 'ferry_rpc_connections', help: 'Open RPC TCP connections', registers: [this.registry] });
    this.rpcErrors = new Counter({ name: 'ferry_rpc_internal_errors_total', help: 'Calls that failed with an internal fault', registers: [this.registry] });
  }
}
