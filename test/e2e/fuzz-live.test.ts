// Goal: random and truncated records sent to the live server never stop it serving others and
// never grow its memory without bound. Method: for a bounded time, many connections send
// random bytes, truncated calls, huge record marks and never-read floods, while one honest
// client keeps reading a file through libnfs; afterwards the server's RSS must stay bounded.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoverProcess } from '../support/mover-process';

const FUZZ_MS = Number(process.env.FERRY_FUZZ_MS ?? 20_000);

function callHeader(xid: number, prog: number, vers: number, proc: number): Buffer {
  const b = Buffer.alloc(40);
  b.writeUInt32BE(xid, 0);
  b.writeUInt32BE(0, 4); // CALL
  b.writeUInt32BE(2, 8);
  b.writeUInt32BE(prog, 12);
  b.writeUInt32BE(vers, 16);
  b.writeUInt32BE(proc, 20);
  // cred AUTH_NONE, verf AUTH_NONE (0,0,0,0) already zero
  return b;
}

function record(body: Buffer, last = true): Buffer {
  const mark = Buffer.alloc(4);
  mark.writeUInt32BE(((last ? 0x80000000 : 0) | body.length) >>> 0, 0);
  return Buffer.concat([mark, body]);
}

/** One hostile payload: random bytes, truncated calls, garbage args, giant marks, floods. */
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.integer({ min: 0, max: 21 }), fc.uint8Array({ maxLength: 300 })).map(([proc, junk]) =>
    record(Buffer.concat([callHeader(Math.floor(Math.random() * 2 ** 32), 100003, 3, proc), Buffer.from(junk)])),
  ),
  fc.tuple(fc.integer({ min: 1, max: 39 })).map(([cut]) => record(callHeader(1, 100003, 3, 1)).subarray(0, cut)),
  fc.constant(Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3])), // a 2 GiB non-final fragment announced
  fc.integer({ min: 50, max: 400 }).map((n) => Buffer.concat(Array.from({ length: n }, (_, i) => record(callHeader(i, 100003, 3, 0))))),
);

describe('hostile input against the live server', () => {
  let mover: MoverProcess;
  beforeAll(async () => {
    mover = await MoverProcess.start();
  });
  afterAll(async () => {
    if (mover) expect(await mover.stop()).toBe(0);
  });

  it('keeps serving an honest client and stays bounded in memory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-fuzz-'));
    const data = randomBytes(256 * 1024);
    writeFileSync(join(dir, 'f'), data);
    const url = `nfs://127.0.0.1/export/fuzz-honest?version=3&nfsport=${mover.nfsPort}&mountport=${mover.nfsPort}`;
    execFileSync('nfs-cp', [join(dir, 'f'), url]);
    const rssBefore = mover.memory().rssKiB;

    const deadline = Date.now() + FUZZ_MS;
    const sockets = new Set<Socket>();
    let sent = 0;
    const attacker = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const items = fc.sample(payload, 20);
        await new Promise<void>((resolve) => {
          const s = connect(mover.nfsPort, '127.0.0.1');
          sockets.add(s);
          s.on('error', () => undefined);
          s.on('close', () => {
            sockets.delete(s);
            resolve();
          });
          s.on('connect', () => {
            for (const p of items) s.write(p);
            sent += items.length;
            // Never read replies on half the connections (a client that never reads).
            if (Math.random() < 0.5) s.pause();
            setTimeout(() => s.destroy(), 200 + Math.random() * 300);
          });
        });
      }
    };
    let honestReads = 0;
    const honest = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const { stdout: got } = await promisify(execFile)('nfs-cat', [url], { maxBuffer: 1 << 22, encoding: 'buffer' });
        expect(Buffer.compare(got, data)).toBe(0);
        honestReads++;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await Promise.all([attacker(), attacker(), attacker(), attacker(), honest()]);
    for (const s of sockets) s.destroy();
    const { rssKiB, peakKiB } = mover.memory();
    process.stdout.write(`fuzz-live: ${sent} hostile payloads, ${honestReads} honest reads, rss ${rssBefore} -> ${rssKiB} KiB (peak ${peakKiB} KiB)\n`);
    expect(honestReads).toBeGreaterThan(5);
    expect(sent).toBeGreaterThan(100);
    // Bounded: the hostile load may not add more than 256 MiB of resident memory.
    expect(rssKiB - rssBefore, `rss before ${rssBefore} KiB, after ${rssKiB} KiB, peak ${peakKiB} KiB`).toBeLessThan(256 * 1024);
    // And the server still answers normally.
    const ready = await fetch(`http://127.0.0.1:${mover.httpPort}/readyz`);
    expect(ready.status).toBe(200);
  });
});
