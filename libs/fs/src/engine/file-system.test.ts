// Goal: the engine's namespace and data semantics match RFC 1813 and POSIX as the Linux client
// expects them. Method: drive the engine over an in-memory volume and check attributes, error
// codes, link counts and times after each operation, and fsck cleanliness at the end.
import { describe, expect, it } from 'vitest';
import { FileType, FsError, FsErrorCode, StableHow } from '../api';
import { checkFileSystem } from '../fsck/check';
import { makeFs, owner, reopen } from './test-helpers';

async function code(p: Promise<unknown>): Promise<FsErrorCode | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof FsError) return e.code;
    throw e;
  }
}

const ref = (a: { ino: bigint; generation: number }) => ({ ino: a.ino, generation: a.generation });

describe('engine namespace', () => {
  it('creates, looks up and lists files, directories, symlinks and nodes', async () => {
    const { fs, volume } = await makeFs();
    const f = await fs.create(fs.root, 'a.txt', { how: 'unchecked', attrs: { mode: 0o600 } }, owner);
    expect(f.attr.type).toBe(FileType.REG);
    expect(f.attr.mode).toBe(0o600);
    expect(f.attr.uid).toBe(1000);
    expect(f.dirWcc.before).toBeDefined();
    const d = await fs.mkdir(fs.root, 'sub', { mode: 0o750 }, owner);
    expect(d.attr.nlink).toBe(2);
    expect((await fs.getattr(fs.root)).nlink).toBe(3);
    const l = await fs.symlink(d.attr, 'link', '../a.txt', {}, owner);
    expect((await fs.readlink(ref(l.attr))).target).toBe('../a.txt');
    const n = await fs.mknod(fs.root, 'dev', FileType.CHR, { major: 4, minor: 64 }, {}, owner);
    expect([n.attr.rdevMajor, n.attr.rdevMinor]).toEqual([4, 64]);
    await fs.mknod(fs.root, 'fifo', FileType.FIFO, { major: 0, minor: 0 }, {}, owner);
    expect((await fs.lookup(fs.root, 'a.txt')).attr.ino).toBe(f.attr.ino);
    expect((await fs.lookup(ref(d.attr), '..')).attr.ino).toBe(fs.root.ino);
    expect((await fs.lookup(fs.root, '.')).attr.ino).toBe(fs.root.ino);
    const names: string[] = [];
    const res = await fs.readdir(fs.root, 0n, true, (e) => {
      names.push(e.name);
      expect(e.attr?.ino).toBe(e.ino);
      return true;
    });
    expect(res.eof).toBe(true);
    expect(names.slice(0, 2)).toEqual(['.', '..']);
    expect(names.slice(2).sort()).toEqual(['a.txt', 'dev', 'fifo', 'sub']);
    expect(await code(fs.lookup(fs.root, 'nope'))).toBe(FsErrorCode.NOENT);
    expect(await code(fs.create(fs.root, 'a.txt', { how: 'guarded', attrs: {} }, owner))).toBe(FsErrorCode.EXIST);
    expect(await code(fs.mkdir(fs.root, 'sub', {}, owner))).toBe(FsErrorCode.EXIST);
    expect(await code(fs.lookup(ref(f.attr), 'x'))).toBe(FsErrorCode.NOTDIR);
    expect(await code(fs.readlink(ref(f.attr)))).toBe(FsErrorCode.INVAL);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('applies the name rules', async () => {
    const { fs } = await makeFs();
    expect(await code(fs.create(fs.root, '', { how: 'unchecked', attrs: {} }, owner))).toBe(FsErrorCode.INVAL);
    expect(await code(fs.create(fs.root, 'a/b', { how: 'unchecked', attrs: {} }, owner))).toBe(FsErrorCode.INVAL);
    expect(await code(fs.create(fs.root, 'a\0b', { how: 'unchecked', attrs: {} }, owner))).toBe(FsErrorCode.INVAL);
    expect(await code(fs.create(fs.root, 'x'.repeat(256), { how: 'unchecked', attrs: {} }, owner))).toBe(FsErrorCode.NAMETOOLONG);
    expect(await code(fs.create(fs.root, 'x'.repeat(255), { how: 'unchecked', attrs: {} }, owner))).toBe('ok');
    expect(await code(fs.mkdir(fs.root, '.', {}, owner))).toBe(FsErrorCode.EXIST);
    expect(await code(fs.mkdir(fs.root, '..', {}, owner))).toBe(FsErrorCode.EXIST);
    expect(await code(fs.rmdir(fs.root, '.'))).toBe(FsErrorCode.INVAL);
    expect(await code(fs.remove(fs.root, '.'))).toBe(FsErrorCode.ISDIR);
    expect(await code(fs.rename(fs.root, '.', fs.root, 'z'))).toBe(FsErrorCode.INVAL);
  });

  it('keeps link counts and refuses wrong removes', async () => {
    const { fs, volume } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const d = await fs.mkdir(fs.root, 'd', {}, owner);
    const l = await fs.link(ref(f.attr), ref(d.attr), 'f2');
    expect(l.attr.nlink).toBe(2);
    expect(l.attr.ctime).not.toEqual(f.attr.ctime);
    expect(await code(fs.link(ref(d.attr), fs.root, 'dlink'))).toBe(FsErrorCode.PERM);
    expect(await code(fs.remove(fs.root, 'd'))).toBe(FsErrorCode.ISDIR);
    expect(await code(fs.rmdir(fs.root, 'f'))).toBe(FsErrorCode.NOTDIR);
    expect(await code(fs.rmdir(fs.root, 'd'))).toBe(FsErrorCode.NOTEMPTY);
    const w = await fs.remove(fs.root, 'f');
    expect(w.after?.mtime).not.toEqual(w.before?.mtime);
    expect((await fs.getattr(ref(f.attr))).nlink).toBe(1);
    await fs.remove(ref(d.attr), 'f2');
    expect(await code(fs.getattr(ref(f.attr)))).toBe(FsErrorCode.STALE);
    await fs.rmdir(fs.root, 'd');
    expect((await fs.getattr(fs.root)).nlink).toBe(2);
    expect(await code(fs.getattr(ref(d.attr)))).toBe(FsErrorCode.STALE);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('renames across directories and over targets with the POSIX rules', async () => {
    const { fs, volume } = await makeFs();
    const a = await fs.mkdir(fs.root, 'a', {}, owner);
    const b = await fs.mkdir(fs.root, 'b', {}, owner);
    const c = await fs.mkdir(ref(a.attr), 'c', {}, owner);
    const f = await fs.create(ref(a.attr), 'f', { how: 'unchecked', attrs: {} }, owner);
    const g = await fs.create(ref(b.attr), 'g', { how: 'unchecked', attrs: {} }, owner);
    // into own subtree
    expect(await code(fs.rename(fs.root, 'a', ref(c.attr), 'x'))).toBe(FsErrorCode.INVAL);
    // file over dir, dir over file
    expect(await code(fs.rename(ref(a.attr), 'f', fs.root, 'b'))).toBe(FsErrorCode.ISDIR);
    expect(await code(fs.rename(ref(a.attr), 'c', ref(b.attr), 'g'))).toBe(FsErrorCode.NOTDIR);
    // dir over non-empty dir
    expect(await code(fs.rename(ref(a.attr), 'c', fs.root, 'b'))).toBe(FsErrorCode.NOTEMPTY);
    expect(await code(fs.rename(ref(a.attr), 'nope', fs.root, 'x'))).toBe(FsErrorCode.NOENT);
    // same file: no-op
    await fs.rename(ref(a.attr), 'f', ref(a.attr), 'f');
    expect((await fs.lookup(ref(a.attr), 'f')).attr.ino).toBe(f.attr.ino);
    // file over file across dirs: g is gone
    const r = await fs.rename(ref(a.attr), 'f', ref(b.attr), 'g');
    expect(r.fromWcc.before).toBeDefined();
    expect(await code(fs.getattr(ref(g.attr)))).toBe(FsErrorCode.STALE);
    expect((await fs.lookup(ref(b.attr), 'g')).attr.ino).toBe(f.attr.ino);
    // directory move updates nlink and ".."
    await fs.rename(ref(a.attr), 'c', ref(b.attr), 'c2');
    expect((await fs.getattr(ref(a.attr))).nlink).toBe(2);
    expect((await fs.getattr(ref(b.attr))).nlink).toBe(3);
    expect((await fs.lookup(ref(c.attr), '..')).attr.ino).toBe(b.attr.ino);
    // dir over empty dir
    const e = await fs.mkdir(fs.root, 'e', {}, owner);
    await fs.rename(ref(b.attr), 'c2', fs.root, 'e');
    expect(await code(fs.getattr(ref(e.attr)))).toBe(FsErrorCode.STALE);
    expect((await fs.getattr(ref(b.attr))).nlink).toBe(2);
    expect((await fs.getattr(fs.root)).nlink).toBe(5);
    // two links of one file: rename one onto the other does nothing
    await fs.link(ref(f.attr), fs.root, 'h');
    await fs.rename(fs.root, 'h', ref(b.attr), 'g');
    expect((await fs.getattr(ref(f.attr))).nlink).toBe(2);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('reuses inode numbers with a higher generation: old handles are STALE', async () => {
    const { fs } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    await fs.write(ref(f.attr), 0n, Buffer.from('old'), StableHow.FILE_SYNC);
    await fs.remove(fs.root, 'f');
    const g = await fs.create(fs.root, 'g', { how: 'unchecked', attrs: {} }, owner);
    expect(g.attr.ino).toBe(f.attr.ino);
    expect(g.attr.generation).toBeGreaterThan(f.attr.generation);
    expect(await code(fs.read(ref(f.attr), 0n, 10))).toBe(FsErrorCode.STALE);
    expect(await code(fs.write(ref(f.attr), 0n, Buffer.from('x'), StableHow.UNSTABLE))).toBe(FsErrorCode.STALE);
    expect((await fs.read(ref(g.attr), 0n, 10)).data.length).toBe(0);
  });

  it('makes a retransmitted EXCLUSIVE create succeed, and a different verifier fail', async () => {
    const { fs, volume, clock } = await makeFs();
    const v1 = Buffer.from('12345678');
    const a = await fs.create(fs.root, 'x', { how: 'exclusive', verifier: v1 }, owner);
    await fs.setattr(ref(a.attr), { mode: 0o640 });
    // after a restart too: the verifier is durable
    const fs2 = await reopen(volume.crashCopy(), clock);
    const b = await fs2.create(fs2.root, 'x', { how: 'exclusive', verifier: v1 }, owner);
    expect(b.attr.ino).toBe(a.attr.ino);
    expect(await code(fs2.create(fs2.root, 'x', { how: 'exclusive', verifier: Buffer.from('87654321') }, owner))).toBe(FsErrorCode.EXIST);
  });

  it('setattr: ctime guard, truncate and extend, times', async () => {
    const { fs, volume } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const fr = ref(f.attr);
    await fs.write(fr, 0n, Buffer.alloc(10000, 0xab), StableHow.FILE_SYNC);
    const at = await fs.getattr(fr);
    expect(at.used).toBe(3n * 4096n);
    expect(await code(fs.setattr(fr, { mode: 0o600 }, { sec: 1, nsec: 0 }))).toBe(FsErrorCode.NOT_SYNC);
    const w = await fs.setattr(fr, { mode: 0o600 }, at.ctime);
    expect(w.after?.mode).toBe(0o600);
    expect(w.after?.ctime).not.toEqual(at.ctime);
    expect(w.after?.mtime).toEqual(at.mtime);
    await fs.setattr(fr, { size: 5000n });
    const t = await fs.getattr(fr);
    expect(t.size).toBe(5000n);
    expect(t.used).toBe(2n * 4096n);
    await fs.setattr(fr, { size: 9000n });
    const data = (await fs.read(fr, 0n, 9000)).data;
    expect(data.subarray(0, 5000).every((x) => x === 0xab)).toBe(true);
    expect(data.subarray(5000).every((x) => x === 0)).toBe(true);
    await fs.setattr(fr, { mtime: { sec: 5, nsec: 6 }, atime: { sec: 7, nsec: 8 } });
    const t2 = await fs.getattr(fr);
    expect(t2.mtime).toEqual({ sec: 5, nsec: 6 });
    expect(t2.atime).toEqual({ sec: 7, nsec: 8 });
    const d = await fs.mkdir(fs.root, 'd', {}, owner);
    expect(await code(fs.setattr(ref(d.attr), { size: 0n }))).toBe(FsErrorCode.ISDIR);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });
});

describe('engine data', () => {
  it('reads back unstable, stable and sparse writes; COMMIT makes them survive a crash', async () => {
    const { fs, volume, clock } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const fr = ref(f.attr);
    const w = await fs.write(fr, 100n, Buffer.from('hello'), StableHow.UNSTABLE);
    expect(w.committed).toBe(StableHow.UNSTABLE);
    expect(w.wcc.after?.size).toBe(105n);
    const far = 8n * 1024n ** 4n - 10n; // just under 8 TiB
    await fs.write(fr, far, Buffer.from('end'), StableHow.UNSTABLE);
    expect((await fs.read(fr, 98n, 9)).data).toEqual(Buffer.from('\0\0hello\0\0'));
    const tail = await fs.read(fr, far - 2n, 100);
    expect(tail.data).toEqual(Buffer.from('\0\0end'));
    expect(tail.eof).toBe(true);
    await fs.commit(fr, 0n, 0);
    const fs2 = await reopen(volume.crashCopy(), clock);
    expect((await fs2.read(fr, 98n, 9)).data).toEqual(Buffer.from('\0\0hello\0\0'));
    expect((await fs2.getattr(fr)).size).toBe(far + 3n);
    expect((await fs2.getattr(fr)).used).toBe(2n * 4096n);
    expect(await code(fs.write(fr, 2n ** 44n, Buffer.from('x'), StableHow.UNSTABLE))).toBe(FsErrorCode.FBIG);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('changes the write verifier on every open', async () => {
    const { fs, volume, clock } = await makeFs();
    const fs2 = await reopen(volume.crashCopy(), clock);
    expect(fs.writeVerifier.length).toBe(8);
    expect(fs2.writeVerifier.equals(fs.writeVerifier)).toBe(false);
  });

  it('reports a checksum mismatch as IO, never wrong data', async () => {
    const errors: object[] = [];
    const { fs, volume } = await makeFs({}, { logger: { warn() {}, error: (o) => errors.push(o) } });
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    await fs.write(ref(f.attr), 0n, Buffer.alloc(8192, 7), StableHow.FILE_SYNC);
    const used = volume.usedExtents();
    volume.corruptBlock(used[used.length - 1]!.block + used[used.length - 1]!.count - 1, 10);
    expect(await code(fs.read(ref(f.attr), 0n, 4096))).toBe('ok');
    expect(await code(fs.read(ref(f.attr), 4096n, 4096))).toBe(FsErrorCode.IO);
    expect(errors[0]).toMatchObject({ ino: f.attr.ino.toString(), fileBlock: 1 });
    const rep = await checkFileSystem(volume);
    expect(rep.clean).toBe(false);
    expect(rep.problems.join('\n')).toMatch(/file block 1 .* fails its checksum/);
  });

  it('reads extents that follow each other on the volume with one device read, verifying every block', async () => {
    const errors: object[] = [];
    const { fs, volume } = await makeFs({}, { logger: { warn() {}, error: (o) => errors.push(o) } });
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const blocks = 300; // more than one extent (MAX_EXTENT_BLOCKS = 256)
    const data = Buffer.alloc(blocks * 4096);
    for (let b = 0; b < blocks; b++) data.fill(b & 0xff, b * 4096, (b + 1) * 4096);
    await fs.write(ref(f.attr), 0n, data, StableHow.FILE_SYNC);
    const used = volume.usedExtents();
    const last = used[used.length - 1]!;
    expect(last.count).toBeGreaterThanOrEqual(blocks); // allocated contiguously
    let deviceReads = 0;
    const readBlocks = volume.readBlocks.bind(volume);
    volume.readBlocks = (block: number, buf: Buffer) => {
      deviceReads++;
      return readBlocks(block, buf);
    };
    const whole = await fs.read(ref(f.attr), 0n, blocks * 4096);
    expect(whole.data.equals(data)).toBe(true);
    expect(deviceReads).toBe(1);
    const across = await fs.read(ref(f.attr), 250n * 4096n + 100n, 10 * 4096);
    expect(across.data.equals(data.subarray(250 * 4096 + 100, 260 * 4096 + 100))).toBe(true);
    volume.corruptBlock(last.block + last.count - blocks + 280, 10);
    expect(await code(fs.read(ref(f.attr), 0n, 256 * 4096))).toBe('ok');
    expect(await code(fs.read(ref(f.attr), 0n, blocks * 4096))).toBe(FsErrorCode.IO);
    expect(errors[0]).toMatchObject({ ino: f.attr.ino.toString(), fileBlock: 280 });
  });

  it('rewrites copy-on-write and frees the old blocks', async () => {
    const { fs, volume } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    await fs.write(ref(f.attr), 0n, Buffer.alloc(4096 * 4, 1), StableHow.FILE_SYNC);
    const before = volume.usedExtents();
    await fs.write(ref(f.attr), 4096n + 10n, Buffer.alloc(10, 2), StableHow.FILE_SYNC);
    const after = volume.usedExtents();
    expect(after).not.toEqual(before);
    const total = (l: { count: number }[]) => l.reduce((s, e) => s + e.count, 0);
    expect(total(after)).toBe(4);
    const d = (await fs.read(ref(f.attr), 4096n, 30)).data;
    expect([...d.subarray(0, 10)]).toEqual(Array(10).fill(1));
    expect([...d.subarray(10, 20)]).toEqual(Array(10).fill(2));
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('overwrites scattered blocks of long and fragmented extents in one flush, freeing exactly the replaced blocks', async () => {
    const { fs, volume, clock } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner);
    const fr = ref(f.attr);
    const blocks = 700;
    const model = Buffer.alloc(blocks * 4096);
    for (let i = 0; i < model.length; i += 4) model.writeUInt32BE(i, i);
    await fs.write(fr, 0n, model, StableHow.FILE_SYNC);
    const total = (l: { count: number }[]) => l.reduce((s, e) => s + e.count, 0);
    expect(total(volume.usedExtents())).toBe(blocks);
    // Gaps under and over the look-back window, neighbours, extent edges, a run across an edge
    // and writes out of file order; a second round over the then fragmented file.
    const rounds = [
      [1, 2, 5, 255, 256, 257, 300, 511, 699, 3, 0, 600, 100],
      [4, 2, 254, 256, 258, 301, 299, 510, 512, 698, 650, 6],
    ];
    let tag = 1;
    for (const round of rounds) {
      for (const b of round) {
        const data = Buffer.alloc(b === 255 || b === 510 ? 8192 : 4096, tag++);
        await fs.write(fr, BigInt(b * 4096), data, StableHow.UNSTABLE);
        data.copy(model, b * 4096);
      }
      await fs.commit(fr, 0n, 0);
      expect(total(volume.usedExtents())).toBe(blocks);
      expect((await fs.getattr(fr)).used).toBe(BigInt(blocks * 4096));
      expect((await fs.read(fr, 0n, model.length)).data.equals(model)).toBe(true);
      expect((await checkFileSystem(volume)).problems).toEqual([]);
    }
    const fs2 = await reopen(volume, clock);
    expect((await fs2.read(fr, 0n, model.length)).data.equals(model)).toBe(true);
  });
});
