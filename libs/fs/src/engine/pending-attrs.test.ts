// Goal: UNSTABLE writes add no log record, yet every reader sees their size and times, and those
// reach stable storage with the data at COMMIT (RFC 1813 §3.3.7) or with any other inode change.
// Method: count the in-memory volume's applies across UNSTABLE writes, compare getattr, lookup,
// READDIRPLUS and READ EOF with what was written, then crash copies before and after COMMIT and
// after a SETATTR, reopened and checked with fsck.
import { describe, expect, it } from 'vitest';
import { type FileRef, StableHow } from '../api';
import { checkFileSystem } from '../fsck/check';
import { makeFs, owner, reopen } from './test-helpers';

const ref = (a: { ino: bigint; generation: number }): FileRef => ({ ino: a.ino, generation: a.generation });

describe('pending size and times of UNSTABLE writes', () => {
  it('are not logged per write but seen by getattr, lookup, readdirplus and read', async () => {
    const { fs, volume } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const fr = ref(f.attr);
    let applies = 0;
    const orig = volume.apply.bind(volume);
    volume.apply = (tx) => {
      applies++;
      return orig(tx);
    };
    let last;
    for (let i = 0; i < 20; i++) last = await fs.write(fr, BigInt(i * 1000), Buffer.alloc(1000, i), StableHow.UNSTABLE);
    expect(applies).toBe(0);
    expect(last!.wcc.after!.size).toBe(20_000n);
    expect(last!.wcc.before!.size).toBe(19_000n);
    const a = await fs.getattr(fr);
    expect(a.size).toBe(20_000n);
    expect(a.mtime).toEqual(last!.wcc.after!.mtime);
    expect(a.mtime).not.toEqual(f.attr.mtime);
    expect((await fs.lookup(fs.root, 'f')).attr.size).toBe(20_000n);
    const listed = await fs.readdir(fs.root, 0n, true, () => true);
    expect(listed.entries.find((e) => e.name === 'f')!.attr!.size).toBe(20_000n);
    const r = await fs.read(fr, 19_000n, 5000);
    expect(r.eof).toBe(true);
    expect(r.data.equals(Buffer.alloc(1000, 19))).toBe(true);
    await fs.commit(fr, 0n, 0);
    expect(applies).toBeGreaterThan(0);
    expect((await fs.getattr(fr)).size).toBe(20_000n);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('are durable after COMMIT, and only the data and size before it come back after a crash', async () => {
    const { fs, volume, clock } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const fr = ref(f.attr);
    await fs.write(fr, 0n, Buffer.alloc(10_000, 1), StableHow.UNSTABLE);
    const beforeCommit = volume.crashCopy();
    await fs.commit(fr, 0n, 0);
    const committedMtime = (await fs.getattr(fr)).mtime;
    await fs.write(fr, 10_000n, Buffer.alloc(5000, 2), StableHow.UNSTABLE);
    const afterCommit = volume.crashCopy();

    const fs1 = await reopen(beforeCommit, clock);
    expect((await fs1.getattr(fr)).size).toBe(0n);
    const fs2 = await reopen(afterCommit, clock);
    const a2 = await fs2.getattr(fr);
    expect(a2.size).toBe(10_000n);
    expect(a2.mtime).toEqual(committedMtime);
    expect((await fs2.read(fr, 0n, 20_000)).data.equals(Buffer.alloc(10_000, 1))).toBe(true);
    expect((await checkFileSystem(afterCommit)).problems).toEqual([]);
  });

  it('are carried by a SETATTR of the same file, which keeps an explicit mtime', async () => {
    const { fs, volume, clock } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const fr = ref(f.attr);
    await fs.write(fr, 0n, Buffer.alloc(7000, 3), StableHow.UNSTABLE);
    const mtime = { sec: 1_600_000_000, nsec: 5 };
    const w = await fs.setattr(fr, { mode: 0o600, mtime });
    expect(w.before!.size).toBe(7000n);
    expect(w.after!.size).toBe(7000n);
    expect((await fs.getattr(fr)).mtime).toEqual(mtime);
    await fs.write(fr, 7000n, Buffer.alloc(1000, 4), StableHow.UNSTABLE);
    expect((await fs.getattr(fr)).size).toBe(8000n);
    expect((await fs.getattr(fr)).mtime).not.toEqual(mtime);
    // The SETATTR was durable before its reply, and with it the size it saw (not the data).
    const fs2 = await reopen(volume.crashCopy(), clock);
    const a = await fs2.getattr(fr);
    expect(a.size).toBe(7000n);
    expect(a.mode).toBe(0o600);
    expect(a.mtime).toEqual(mtime);
  });

  it('follow a truncate and a rename, and vanish with the removed file', async () => {
    const { fs, volume } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const fr = ref(f.attr);
    await fs.write(fr, 0n, Buffer.alloc(9000, 5), StableHow.UNSTABLE);
    await fs.setattr(fr, { size: 3000n });
    expect((await fs.getattr(fr)).size).toBe(3000n);
    await fs.write(fr, 20_000n, Buffer.alloc(10, 6), StableHow.UNSTABLE);
    await fs.rename(fs.root, 'f', fs.root, 'g');
    const g = await fs.lookup(fs.root, 'g');
    expect(g.attr.size).toBe(20_010n);
    const d = (await fs.read(fr, 0n, 30_000)).data;
    expect(d.length).toBe(20_010);
    expect(d.subarray(0, 3000).equals(Buffer.alloc(3000, 5))).toBe(true);
    expect(d.subarray(3000, 20_000).equals(Buffer.alloc(17_000))).toBe(true);
    await fs.remove(fs.root, 'g');
    await fs.flush();
    expect(volume.usedExtents()).toEqual([]);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });
});
