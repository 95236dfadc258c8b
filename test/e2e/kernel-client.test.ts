// Goal: the Linux kernel NFSv3 client sees a correct filesystem on Ferry, including across a
// server restart under a live mount. Method: start the built mover, run scripts/kernel-semantics.sh
// in the nfsvm VM against it, restart the server when the script asks, and require every step ok.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoverProcess } from '../support/mover-process';
import { runNfsvm } from '../support/nfsvm-run';

const COPIES = Number(process.env.FERRY_E2E_BIG_COPIES ?? 40); // 40 x 16 MiB: 640 MiB each way

describe('Linux kernel client (nfsvm)', () => {
  let mover: MoverProcess;
  beforeAll(async () => {
    mover = await MoverProcess.start();
  });
  afterAll(async () => {
    if (mover) expect(await mover.stop()).toBe(0);
  });

  it('passes the semantics script, including a restart under a live mount', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-kvm-'));
    const seed = randomBytes(16 * 1024 * 1024);
    const seedPath = join(dir, 'seed');
    writeFileSync(seedPath, seed);
    const md5 = createHash('md5').update(seed).digest('hex');
    const script = resolve(__dirname, 'scripts/kernel-semantics.sh');
    const args = [
      'run', '-q', '--port', String(mover.nfsPort), '--mount-port', String(mover.nfsPort), '--export', '/export',
      '--timeout', '1500', '--mem', '1024', '--with-file', `${seedPath}:/tmp/seed`, script, '/tmp/seed', md5, String(COPIES),
    ];
    let restartFailure: unknown;
    let restarting: Promise<unknown> | undefined;
    const { code, lines: out } = await runNfsvm(args, (line) => {
      if (line !== 'RESTART-NOW') return;
      restarting = (async () => {
        await mover.restart();
        const marker = join(dir, 'marker');
        writeFileSync(marker, 'restarted\n');
        execFileSync('nfs-cp', [marker, `nfs://127.0.0.1/export/.ferry-restarted?version=3&nfsport=${mover.nfsPort}&mountport=${mover.nfsPort}`]);
      })().catch((err: unknown) => (restartFailure = err));
    });
    // A script that ends early (a failed step) must not leave the restart running into afterAll.
    await restarting;
    if (restartFailure) throw restartFailure;
    const text = out.join('\n');
    process.stdout.write(`${out.filter((l) => /^(ok|FAIL|ALL-OK)/.test(l)).join('\n')}\n`);
    expect(text, `${text}\n--- mover log ---\n${mover.logTail()}`).toContain('ALL-OK');
    expect(code).toBe(0);
    expect(text).not.toMatch(/^FAIL/m);
  });
});
