/**
 * What a command may touch outside itself: streams, environment, working directory, the
 * terminal and the clock. `main` receives it, so tests run the whole CLI in-process against
 * their own streams and environment, and nothing reads `process.*` behind their back.
 */
import { createInterface } from 'node:readline';

export interface CliOutput {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export interface CliIo {
  stdout: CliOutput;
  /** Progress bars go here when it is a terminal (cli-progress drives it as a TTY stream). */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
  /** Whether a person can answer a question (`fs delete` asks for the name). */
  stdinIsTTY: boolean;
  /** Asks one question on the terminal and returns the answer line. */
  prompt(question: string): Promise<string>;
  sleep(ms: number): Promise<void>;
  /** Items asked for per list page (the API allows 1..500). */
  pageSize?: number;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    stdinIsTTY: process.stdin.isTTY === true,
    prompt: (question) =>
      new Promise((resolve) => {
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        rl.question(question, (answer) => {
          rl.close();
          resolve(answer);
        });
      }),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
