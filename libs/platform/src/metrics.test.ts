// Goal: the RPC call metrics, kept in plain counters for speed, expose exactly what
// prom-client's own Counter and Histogram would for the same calls.
// Method: the same calls go into MoverMetrics and into a reference registry built from
// prom-client's classes; the two exposition texts of those metrics must be equal.
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { MoverMetrics, RPC_LATENCY_BUCKETS_S } from './metrics';

function reference(): { registry: Registry; record: (program: string, procedure: string, ok: boolean, ns: number) => void } {
  const registry = new Registry();
  const calls = new Counter({
    name: 'ferry_rpc_calls_total',
    help: 'RPC calls answered, by program, procedure and result (ok = procedure ran; error = RPC-level failure)',
    labelNames: ['program', 'procedure', 'result'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'ferry_rpc_duration_seconds',
    help: 'Time from a decoded call to its encoded reply, by program and procedure',
    labelNames: ['program', 'procedure'],
    buckets: [...RPC_LATENCY_BUCKETS_S],
    registers: [registry],
  });
  return {
    registry,
    record: (program, procedure, ok, ns) => {
      calls.inc({ program, procedure, result: ok ? 'ok' : 'error' });
      latency.observe({ program, procedure }, ns / 1e9);
    },
  };
}

/** The lines of the two RPC metrics in an exposition text, sorted: series order has no meaning. */
function rpcLines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => /ferry_rpc_(calls_total|duration_seconds)/.test(l))
    .sort();
}

describe('RPC call metrics', () => {
  it('expose what prom-client would for the same calls, bucket edges included', async () => {
    const m = new MoverMetrics();
    const ref = reference();
    const calls: Array<[string, string, boolean, number]> = [
      ['nfs', 'GETATTR', true, 30_000],
      ['nfs', 'GETATTR', true, 50_000], // exactly on a bound: counted in it (le is <=)
      ['nfs', 'GETATTR', true, 50_001],
      ['nfs', 'LOOKUP', false, 1_000_000],
      ['nfs', 'LOOKUP', true, 7_000_000_000], // beyond every bound: +Inf only
      ['mount', 'MNT', true, 2_500_000_000],
      ['nfs', 'READ', true, 0],
    ];
    for (const [program, procedure, ok, ns] of calls) {
      m.rpcCalls.record(program, procedure, ok, BigInt(ns));
      ref.record(program, procedure, ok, ns);
    }
    const ours = rpcLines(await m.registry.metrics());
    const theirs = rpcLines(await ref.registry.metrics());
    expect(ours.length).toBeGreaterThan(calls.length);
    expect(ours).toEqual(theirs);
    expect(ours).toContain('ferry_rpc_calls_total{program="nfs",procedure="LOOKUP",result="error"} 1');
    expect(ours).toContain('ferry_rpc_duration_seconds_bucket{le="0.00005",program="nfs",procedure="GETATTR"} 2');
  });

  it('show nothing before the first call, and nothing again after a reset', async () => {
    const m = new MoverMetrics();
    expect(rpcLines(await m.registry.metrics()).filter((l) => !l.startsWith('#'))).toEqual([]);
    m.rpcCalls.record('nfs', 'NULL', true, 1000n);
    expect(rpcLines(await m.registry.metrics()).filter((l) => !l.startsWith('#')).length).toBeGreaterThan(0);
    m.registry.resetMetrics();
    expect(rpcLines(await m.registry.metrics()).filter((l) => !l.startsWith('#'))).toEqual([]);
  });
});
