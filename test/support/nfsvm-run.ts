/**
 * Runs a script in the nfsvm VM (the Linux kernel NFS client) and collects its output line by
 * line; `onLine` sees each stdout line as it arrives, so a test can act on the host in the middle
 * of the script (a marker line such as RESTART-NOW). stderr lines are kept with a prefix.
 */
import { spawn } from 'node:child_process';
import { NFSVM } from './paths';

export async function runNfsvm(args: string[], onLine: (line: string) => void = () => {}): Promise<{ code: number | null; lines: string[] }> {
  const lines: string[] = [];
  const code = await new Promise<number | null>((resolveRun, reject) => {
    const vm = spawn(NFSVM(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    vm.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        onLine(line);
      }
    });
    vm.stderr.on('data', (chunk: Buffer) => lines.push(`[stderr] ${chunk.toString().trimEnd()}`));
    vm.on('error', reject);
    vm.on('exit', (c) => resolveRun(c));
  });
  return { code, lines };
}
