/**
 * Docker for the image and compose tests: the client (FERRY_DOCKER, one that builds with
 * BuildKit; default `docker`), a check that a daemon answers, and the Ferry image built from
 * docker/Dockerfile. The Dockerfile's base, node:20-bookworm-slim, cannot be pulled where no
 * registry but npm and Debian is reachable: docker/test-node-base.sh builds a stand-in from
 * Debian packages and this machine's Node 20, unless FERRY_TEST_NODE_IMAGE names a real one.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './paths';
import { runAsync } from './run';

export const DOCKER = process.env.FERRY_DOCKER ?? 'docker';

/** Runs a docker command from the repository root (BuildKit on); its stdout, or throws with its output. */
export async function docker(...args: string[]): Promise<string> {
  return must(DOCKER, args, { DOCKER_BUILDKIT: '1' });
}

/** Runs a command from the repository root; its stdout, or throws with its output. */
export async function must(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await runAsync(cmd, args, env, REPO);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.err || r.out).slice(-3000)}`);
  return r.out.trim();
}

/** Throws a clear error when no Docker daemon answers (.ci/run starts one). */
export function requireDockerDaemon(): void {
  const info = spawnSync(DOCKER, ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8' });
  if (info.status !== 0) throw new Error(`no Docker daemon answers (${DOCKER} info: ${info.stderr.trim()}); .ci/run starts one`);
}

/** The Node base image to build FROM: FERRY_TEST_NODE_IMAGE, else the stand-in (built once, then reused). */
export async function nodeBaseImage(): Promise<string> {
  const named = process.env.FERRY_TEST_NODE_IMAGE;
  if (named) return named;
  return (await must('bash', [join(REPO, 'docker/test-node-base.sh')], { DOCKER })).split('\n').pop()!;
}

/** Builds docker/Dockerfile from the repository as `tag` on `base`. */
export async function buildFerryImage(tag: string, base: string): Promise<void> {
  await docker('build', '--network', 'host', '--build-arg', `NODE_IMAGE=${base}`, '-f', 'docker/Dockerfile', '-t', tag, '.');
}
