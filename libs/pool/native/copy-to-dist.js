// Copies the built addon next to the compiled pool library: <outDir>/libs/pool/native/.
// Usage: node libs/pool/native/copy-to-dist.js [outDir]   (default dist)
const { copyFileSync, mkdirSync } = require('node:fs');
const { join, resolve } = require('node:path');

const outDir = resolve(process.argv[2] ?? 'dist');
const from = join(__dirname, 'build', 'Release', 'fenced_io.node');
const to = join(outDir, 'libs', 'pool', 'native', 'fenced_io.node');
mkdirSync(join(to, '..'), { recursive: true });
copyFileSync(from, to);
