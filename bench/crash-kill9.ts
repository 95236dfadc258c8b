/**
 * kill -9 endurance run: N kills (default 50) of the data mover under the CrashWorkload, each
 * followed by an offline fsck of the killed data directory, a restart and a full verification.
 * Prints one line per kill and a summary; exits 1 at the first loss or fsck problem.
 *
 * Usage (after `npm run build`): node dist/bench/crash-kill9.js [KILLS]
 */
import { execFileSync } from 'node:child_process';
import { CrashWorkload } from '../test/support/crash-workload';
import { MoverProcess } from '../test/support/mover-process';
import { CLI_MAIN } from '../test/support/paths';

async function main(): Promise<void> {
  const kills = Number(process.argv[2] ?? 50);
  const cli = CLI_MAIN;
  const mover = await MoverProcess.start({ env: { FERRY_LOG_LEVEL: 'warn' } });
  const work = new CrashWorkload(mover, 4);
  const started = Date.now();
  let recoveryMsMax = 0;
  try {
    for (let k = 1; k <= kills; k++) {
      const killAfterMs = 200 + Math.floor(Math.random() * 2500);
      await work.runUntilKilled(killAfterMs);
      execFileSync(process.execPath, [cli, 'fsck', '--data-dir', mover.dataDir], { stdio: 'pipe' });
      const t0 = Date.now();
      await mover.spawn();
      recoveryMsMax = Math.max(recoveryMsMax, Date.now() - t0);
      const checked = await work.verify();
      process.stdout.write(`kill ${k}/${kills}: after ${killAfterMs} ms, ${work.acknowledged} ops acknowledged so far, ${checked} names verified, fsck clean\n`);
    }
    process.stdout.write(`OK: ${kills} kills, ${work.acknowledged} acknowledged operations, nothing lost, fsck clean every time; ` +
      `slowest restart-to-ready ${recoveryMsMax} ms; ${((Date.now() - started) / 1000).toFixed(0)} s in all\n`);
  } finally {
    await mover.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
