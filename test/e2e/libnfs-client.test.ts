// Goal: libnfs user-space clients (nfs-cp, nfs-ls, nfs-cat) can write, list and read on Ferry,
// and data survives a graceful restart. Method: drive the libnfs-utils binaries against the
// built mover process and compare bytes.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoverProcess } from '../support/mover-process';

describe('libnfs clients', () => {
  let mover: MoverProcess;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-libnfs-'));
  const url = (p: string): string => `nfs://127.0.0.1/export${p}?version=3&nfsport=${mover.nfsPort}&mountport=${mover.nfsPort}`;
  beforeAll(async () => {
    mover = await MoverProcess.start();
  });
  afterAll(async () => {
    if (mover) expect(await mover.stop()).toBe(0);
  });

  it('copies a file in and out byte for byte, lists it, and keeps it across a restart', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 123);
    const src = join(dir, 'src.bin');
    writeFileSync(src, data);
    execFileSync('nfs-cp', [src, url('/copied.bin')]);
    const listing = execFileSync('nfs-ls', [url('/')]).toString();
    expect(listing).toMatch(/copied\.bin/);
    expect(listing).toMatch(new RegExp(`\\b${data.length}\\b`));
    const back = join(dir, 'back.bin');
    execFileSync('nfs-cp', [url('/copied.bin'), back]);
    expect(readFileSync(back).equals(data)).toBe(true);
    await mover.restart();
    const cat = execFileSync('nfs-cat', [url('/copied.bin')], { maxBuffer: 64 * 1024 * 1024 });
    expect(Buffer.compare(cat, data)).toBe(0);
  });

  it('refuses an export path that does not exist', () => {
    expect(() => execFileSync('nfs-ls', [`nfs://127.0.0.1/nope?version=3&nfsport=${mover.nfsPort}&mountport=${mover.nfsPort}`], { stdio: 'pipe' })).toThrow();
  });
});
