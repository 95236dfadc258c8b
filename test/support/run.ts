import { spawn } from 'node:child_process';

export interface RunResult {
  status: number;
  out: string;
  err: string;
}

/**
 * Runs a command to its end without blocking the event loop (a server in this process answers
 * meanwhile), with `env` added to this process's environment; never rejects for a failing exit
 * status (the caller reads `status`), only when the command cannot be started.
 */
export function runAsync(cmd: string, args: string[], env: Record<string, string> = {}, cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ status: code ?? -1, out, err }));
  });
}
