/**
 * NULL round trips: what one call costs a server before any NFS work, one call in flight on one
 * TCP connection (the wake-up and receive/send path that bounds one-at-a-time GETATTR or LOOKUP).
 * Each target gets the same client and the same calls, alternating per round so drift on a shared
 * machine hits every target alike.
 *
 * Usage: node dist/bench/null-rtt.js [--calls N] [--rounds R] NAME=PORT[:PID] ...
 *   e.g. ferry=32049:1234 ganesha=33049:5678 (PID: also report the server's CPU per call, from
 *   /proc/PID/stat, all threads, user + system).
 * Prints per target and round: mean, p50 and p90 of the round trip in µs, and CPU µs per call.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

interface Target {
  name: string;
  port: number;
  pid?: number;
}

const NFS_PROGRAM = 100003;

function args(): { calls: number; rounds: number; targets: Target[] } {
  let calls = 20000;
  let rounds = 3;
  const targets: Target[] = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--calls') calls = Number(argv[++i]);
    else if (a === '--rounds') rounds = Number(argv[++i]);
    else {
      const m = /^([\w-]+)=(\d+)(?::(\d+))?$/.exec(a);
      if (!m) throw new Error(`bad target ${a}: expected NAME=PORT[:PID]`);
      targets.push({ name: m[1]!, port: Number(m[2]), pid: m[3] === undefined ? undefined : Number(m[3]) });
    }
  }
  if (targets.length === 0 || !(calls > 0) || !(rounds > 0)) {
    throw new Error('usage: null-rtt [--calls N] [--rounds R] NAME=PORT[:PID] ...');
  }
  return { calls, rounds, targets };
}

const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** utime + stime of the whole process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // fields 14 and 15 of proc(5)
}

/** One NULL call record (RFC 5531): xid, CALL, rpcvers 2, prog, vers 3, proc 0, two AUTH_NONE. */
function nullCall(xid: number): Buffer {
  const b = Buffer.alloc(4 + 40);
  b.writeUInt32BE((0x80000000 | 40) >>> 0, 0);
  const words = [xid, 0, 2, NFS_PROGRAM, 3, 0, 0, 0, 0, 0];
  words.forEach((w, i) => b.writeUInt32BE(w >>> 0, 4 + 4 * i));
  return b;
}

/** Sends one call at a time and resolves each reply's arrival (a reply is one record here). */
class Caller {
  private pending: Buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      for (;;) {
        if (this.pending.length < 4) return;
        const len = this.pending.readUInt32BE(0) & 0x7fffffff;
        if (this.pending.length < 4 + len) return;
        this.pending = this.pending.subarray(4 + len);
        const w = this.waiting;
        this.waiting = undefined;
        w?.();
      }
    });
  }

  call(xid: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(nullCall(xid));
    });
  }
}

async function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

async function round(t: Target, calls: number): Promise<string> {
  const socket = await open(t.port);
  const c = new Caller(socket);
  let xid = 1;
  for (let i = 0; i < 2000; i++) await c.call(xid++);
  const cpu0 = t.pid === undefined ? 0 : cpuSeconds(t.pid);
  const lat = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    await c.call(xid++);
    lat[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const cpu = t.pid === undefined ? undefined : ((cpuSeconds(t.pid) - cpu0) / calls) * 1e6;
  socket.destroy();
  const sorted = Array.from(lat).sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / calls;
  const p = (q: number): number => sorted[Math.min(calls - 1, Math.floor(calls * q))]!;
  return `mean ${mean.toFixed(1)} µs  p50 ${p(0.5).toFixed(1)}  p90 ${p(0.9).toFixed(1)}${cpu === undefined ? '' : `  server CPU ${cpu.toFixed(1)} µs/call`}`;
}

async function main(): Promise<void> {
  const { calls, rounds, targets } = args();
  for (let r = 1; r <= rounds; r++) {
    for (const t of targets) console.log(`round ${r} ${t.name.padEnd(10)} NULL x${calls}: ${await round(t, calls)}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
