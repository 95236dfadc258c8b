import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** The repository root: the nearest folder above this file (source or built) holding
 * package.json and nest-cli.json; the working directory when run from a copied build. */
function findRepo(): string {
  for (let dir = __dirname; ; dir = resolve(dir, '..')) {
    if (existsSync(resolve(dir, 'package.json')) && existsSync(resolve(dir, 'nest-cli.json'))) return dir;
    if (resolve(dir, '..') === dir) return process.cwd();
  }
}

export const REPO = findRepo();

/** The shared tools folder: $FERRY_SHARED, else ../shared next to the clone, else /work/shared. */
export function sharedDir(): string {
  const candidates = [process.env.FERRY_SHARED, resolve(REPO, '../shared'), '/work/shared'].filter((p): p is string => !!p);
  for (const c of candidates) if (existsSync(resolve(c, 'tools/nfsvm/nfsvm'))) return c;
  throw new Error(`shared tools not found (looked in ${candidates.join(', ')}); set FERRY_SHARED`);
}

export const NFSVM = (): string => resolve(sharedDir(), 'tools/nfsvm/nfsvm');
/** The built tree; FERRY_DIST lets a test run use a private build while others rebuild dist/. */
export const DIST = process.env.FERRY_DIST ? resolve(process.env.FERRY_DIST) : resolve(REPO, 'dist');
export const MOVER_MAIN = resolve(DIST, 'apps/data-mover/src/main.js');
/** The embedded start (`npm start`): admin API, jobs and one mover in one process. */
export const FERRY_MAIN = resolve(DIST, 'apps/admin-api/src/main.js');
export const CLI_MAIN = resolve(DIST, 'apps/cli/src/main.js');
export const NFSBENCH = resolve(REPO, '.tmp/nfsbench/nfsbench');
