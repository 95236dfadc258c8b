#!/usr/bin/env node
/*
 * `init-secrets`: creates the cluster secrets of a compose cluster in $FERRY_KEYS_DIR (default
 * /keys), once. The chart does the same with Kubernetes Secrets (helm/ferry/templates/secrets.yaml).
 *
 *   handle.key   32 random bytes: the MAC key of NFS file handles (libs/nfs HANDLE_KEY_BYTES).
 *   admin-token  the first admin API token, `ferry_` + 43 base64url characters and a newline
 *                (libs/control TOKEN_PATTERN), read by the admin-api through FERRY_ADMIN_TOKEN_FILE.
 *
 * Invariants: an existing file is never rewritten (a new handle key would make every handle that
 * clients hold stale), only checked: a file of the wrong shape stops with exit 1 and a message,
 * never a silent replacement. A new file appears whole or not at all (written to a temporary
 * name with mode 0600, synced, renamed), so two concurrent runs cannot leave a torn key.
 * Exit codes: 0 done (created or already there), 1 a file is malformed or cannot be written.
 */
'use strict';
const { randomBytes } = require('node:crypto');
const { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } = require('node:fs');
const { join } = require('node:path');

const HANDLE_KEY_BYTES = 32;
const TOKEN_PATTERN = /^ferry_[A-Za-z0-9_-]{43}$/;

const SECRETS = [
  {
    file: 'handle.key',
    make: () => randomBytes(HANDLE_KEY_BYTES),
    problem: (bytes) => (bytes.length === HANDLE_KEY_BYTES ? undefined : `must be ${HANDLE_KEY_BYTES} bytes, has ${bytes.length}`),
  },
  {
    file: 'admin-token',
    make: () => Buffer.from(`ferry_${randomBytes(32).toString('base64url')}\n`),
    problem: (bytes) => (TOKEN_PATTERN.test(bytes.toString('utf8').trim()) ? undefined : 'is not a Ferry API token (ferry_ and 43 base64url characters)'),
  },
];

/** Writes `bytes` to `path` only if it does not exist yet: link(2) of a synced temp file fails with EEXIST instead of replacing. */
function createOnce(path, bytes) {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if (err.code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

function main() {
  const dir = process.env.FERRY_KEYS_DIR || '/keys';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let failed = false;
  for (const s of SECRETS) {
    const path = join(dir, s.file);
    let created = false;
    try {
      created = createOnce(path, s.make());
    } catch (err) {
      console.error(`init-secrets: cannot write ${path}: ${err.message}`);
      failed = true;
      continue;
    }
    const problem = s.problem(readFileSync(path));
    if (problem !== undefined) {
      console.error(`init-secrets: ${path} ${problem}; left untouched (remove it to have a new one made)`);
      failed = true;
    } else {
      console.log(`init-secrets: ${path} ${created ? 'created' : 'already there, kept'}`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}

main();
