// Goal: kill -9 of the data mover under an NFS workload loses nothing acknowledged and leaves a
// filesystem that fsck finds clean. Method: CrashWorkload (independent NFSv3 client) runs
// writes and metadata operations, the mover is SIGKILLed at random moments and restarted, the
// model is verified after every restart, and `ferry fsck` checks the killed data directory.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrashWorkload } from '../support/crash-workload';
import { MoverProcess } from '../support/mover-process';
import { CLI_MAIN } from '../support/paths';

const ROUNDS = Number(process.env.FERRY_CRASH_ROUNDS ?? 4);
const CLI = CLI_MAIN;

function fsck(dataDir: string): { code: number; out: string } {
  try {
    const out = execFileSync(process.execPath, [CLI, 'fsck', '--data-dir', dataDir], { encoding: 'utf8', stdio: 'pipe' });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, out: `${e.stdout}\n${e.stderr}` };
  }
}

describe('kill -9 under load', () => {
  let mover: MoverProcess;
  beforeAll(async () => {
    mover = await MoverProcess.start();
  });
  afterAll(async () => {
    if (mover) await mover.stop();
  });

  it(`loses nothing acknowledged over ${ROUNDS} kills, and fsck stays clean`, async () => {
    const work = new CrashWorkload(mover, 4);
    for (let round = 0; round < ROUNDS; round++) {
      await work.runUntilKilled(300 + Math.floor(Math.random() * 1500));
      const check = fsck(mover.dataDir);
      expect(check.code, check.out).toBe(0);
      await mover.spawn();
      await work.verify();
    }
    expect(work.acknowledged).toBeGreaterThan(ROUNDS * 5);
    expect(await mover.stop()).toBe(0);
    const final = fsck(mover.dataDir);
    expect(final.code, final.out).toBe(0);
    await mover.spawn();
    await work.verify();
  });
});
