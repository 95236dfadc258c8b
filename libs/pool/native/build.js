// Builds the fenced write addon (fenced_io.c) with node-gyp (npm puts its own on PATH for npm
// scripts: run this as `npm run build:native`). Node's headers are taken from the running node's
// installation when it has them (Debian's nodejs: /usr; the official images: /usr/local), so
// nothing is downloaded; without them node-gyp looks for them itself.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');

const nodedir = resolve(dirname(process.execPath), '..');
const args = ['rebuild', `--directory=${__dirname}`, '--loglevel=warn'];
if (existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
const r = spawnSync('node-gyp', args, { stdio: ['ignore', 'ignore', 'inherit'] });
if (r.error) {
  console.error(`could not run node-gyp (${r.error.message}): run this through "npm run build:native"; it needs python3, make and a C compiler`);
  process.exit(1);
}
process.exit(r.status ?? 1);
