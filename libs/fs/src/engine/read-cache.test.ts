// Goal: the engine's read cache (decoded inodes, whole directory listings) never serves what a
// completed change replaced, including a load that overlapped the change, and bounded caches
// and over-long directories still list everything. Method: warm the cache, change the
// filesystem through the engine, and compare getattr/lookup/readdir with what must be seen; a
// volume wrapper holds a read's result until a change has been applied.
import { describe, expect, it } from 'vitest';
import { type FileRef, type FileSystem, FileType, FsErrorCode, inoKey, StableHow } from '../api';
import { MemoryVolume } from '../testing/memory-volume';
import { formatFileSystem, openFileSystem } from './format';
import { TokenCache } from './read-cache';
import { makeFs, owner, tickingClock } from './test-helpers';

async function names(fs: FileSystem, dir: FileRef, withAttrs: boolean, page = Infinity): Promise<Map<string, bigint | undefined>> {
  const out = new Map<string, bigint | undefined>();
  let cookie = 0n;
  for (;;) {
    let n = 0;
    const r = await fs.readdir(dir, cookie, withAttrs, () => n++ < page);
    for (const e of r.entries) if (e.name !== '.' && e.name !== '..') out.set(e.name, withAttrs ? e.attr?.size : e.ino);
    if (r.eof) return out;
    cookie = r.entries[r.entries.length - 1]!.cookie;
  }
}

const ref = (a: { ino: bigint; generation: number }): FileRef => ({ ino: a.ino, generation: a.generation });

describe('inode numbers as cache keys', () => {
  it('keeps inode numbers apart that a double cannot (past 2^53) and answers the same for both key forms', () => {
    const edge = 2n ** 53n;
    const inos = [0n, 1n, edge - 1n, edge, edge + 1n, edge + 2n, 2n ** 64n - 1n];
    expect(new Set(inos.map(inoKey)).size).toBe(inos.length);
    expect(typeof inoKey(edge - 1n)).toBe('number');
    expect(typeof inoKey(edge)).toBe('bigint');
    const c = new TokenCache<string>(100, () => 1);
    for (const ino of inos) c.end(ino, c.begin(ino), `v${ino}`);
    for (const ino of inos) expect(c.get(ino)).toBe(`v${ino}`);
    c.invalidate(edge + 1n);
    expect(c.get(edge + 1n)).toBeUndefined();
    expect(c.get(edge)).toBe(`v${edge}`);
    expect(c.get(edge + 2n)).toBe(`v${edge + 2n}`);
  });
});

describe('engine read cache', () => {
  it('a warm listing follows creates, removes, renames and links, with and without attributes', async () => {
    const { fs } = await makeFs();
    const a = ref((await fs.mkdir(fs.root, 'a', {}, owner)).attr);
    const b = ref((await fs.mkdir(fs.root, 'b', {}, owner)).attr);
    const f = ref((await fs.create(a, 'f', { how: 'unchecked', attrs: {} }, owner)).attr);
    for (const withAttrs of [false, true]) expect([...(await names(fs, a, withAttrs)).keys()]).toEqual(['f']);
    expect((await names(fs, b, true)).size).toBe(0);

    await fs.create(a, 'g', { how: 'unchecked', attrs: {} }, owner);
    expect([...(await names(fs, a, false)).keys()].sort()).toEqual(['f', 'g']);
    await fs.rename(a, 'f', b, 'f2');
    expect([...(await names(fs, a, true)).keys()]).toEqual(['g']);
    expect([...(await names(fs, b, true)).keys()]).toEqual(['f2']);
    await fs.link(f, a, 'again');
    expect((await fs.getattr(f)).nlink).toBe(2);
    expect([...(await names(fs, a, false)).keys()].sort()).toEqual(['again', 'g']);
    await fs.remove(b, 'f2');
    expect((await fs.getattr(f)).nlink).toBe(1);
    expect((await names(fs, b, false)).size).toBe(0);
    await fs.remove(a, 'again');
    await expect(fs.getattr(f)).rejects.toMatchObject({ code: FsErrorCode.STALE });
    await expect(fs.lookup(a, 'again')).rejects.toMatchObject({ code: FsErrorCode.NOENT });
    // The directory's own attributes (nlink, mtime) follow too.
    const before = await fs.getattr(fs.root);
    await fs.rmdir(fs.root, 'b');
    const after = await fs.getattr(fs.root);
    expect(after.nlink).toBe(before.nlink - 1);
    expect(after.mtime).not.toEqual(before.mtime);
  });

  it('cached attributes follow setattr, buffered writes, COMMIT and truncation', async () => {
    const { fs } = await makeFs();
    const f = ref((await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner)).attr);
    expect((await fs.getattr(f)).mode).toBe(0o644);
    await fs.setattr(f, { mode: 0o600 });
    expect((await fs.getattr(f)).mode).toBe(0o600);
    expect((await fs.lookup(fs.root, 'f')).attr.mode).toBe(0o600);
    await fs.write(f, 0n, Buffer.alloc(10_000, 1), StableHow.UNSTABLE);
    expect((await fs.getattr(f)).size).toBe(10_000n);
    expect((await names(fs, fs.root, true)).get('f')).toBe(10_000n);
    await fs.commit(f, 0n, 0);
    expect((await fs.getattr(f)).size).toBe(10_000n);
    expect((await fs.getattr(f)).used).toBe(3n * 4096n);
    await fs.setattr(f, { size: 5n });
    expect((await fs.getattr(f)).size).toBe(5n);
    expect((await names(fs, fs.root, true)).get('f')).toBe(5n);
    expect((await fs.read(f, 0n, 100)).data.length).toBe(5);
  });

  it('a load that overlapped a change does not install what it read before the change', async () => {
    const volume = new MemoryVolume();
    const clock = tickingClock();
    await formatFileSystem(volume, { fsid: 7n, clock });
    let held: Array<() => void> | undefined;
    // Reads see the volume when called (as MetaVolume's resident path does) but may resolve later.
    const slow = new Proxy(volume, {
      get(target, prop) {
        if (prop === 'get') {
          return (k: Buffer) => {
            const p = target.get(k);
            const queue = held;
            if (queue === undefined) return p;
            return p.then((v) => new Promise((resolve) => queue.push(() => resolve(v))));
          };
        }
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const fs = await openFileSystem(slow, { fsid: 7n, clock, random: (n) => Buffer.alloc(n, 1) });
    const f = ref((await fs.create(fs.root, 'f', { how: 'unchecked', attrs: {} }, owner)).attr);
    const d = ref((await fs.mkdir(fs.root, 'd', {}, owner)).attr);

    held = [];
    const staleGet = fs.getattr(f); // reads mode 0644 now, resolves after the setattr below
    const staleList = fs.readdir(d, 0n, false, () => true); // reads the directory inode now
    const queue = held;
    held = undefined;
    await fs.setattr(f, { mode: 0o600 });
    await fs.create(d, 'new', { how: 'unchecked', attrs: {} }, owner);
    for (const release of queue) release();
    expect((await staleGet).mode).toBe(0o644); // may see the old state: it overlapped
    await staleList;
    expect((await fs.getattr(f)).mode).toBe(0o600);
    expect([...(await names(fs, d, false)).keys()]).toEqual(['new']);

    // An apply that installs late (MetaVolume under back-pressure): a load that starts and
    // ends while the change is pending reads the old state, which must not survive it.
    let openGate: () => void = () => {};
    let gate: Promise<void> | undefined = new Promise<void>((resolve) => (openGate = resolve));
    let entered: () => void = () => {};
    const applying = new Promise<void>((resolve) => (entered = resolve));
    const late = new Proxy(volume, {
      get(target, prop) {
        if (prop === 'apply') {
          return async (tx: Parameters<MemoryVolume['apply']>[0]) => {
            if (gate) {
              entered();
              await gate;
            }
            return target.apply(tx);
          };
        }
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const fs2 = await openFileSystem(late, { fsid: 7n, clock, random: (n) => Buffer.alloc(n, 1) });
    const change = fs2.setattr(f, { mode: 0o640 });
    await applying;
    const during = await fs2.getattr(f);
    expect(during.mode).toBe(0o600);
    gate = undefined;
    openGate();
    await change;
    expect((await fs2.getattr(f)).mode).toBe(0o640);
  });

  it('small caches and directories longer than a cached listing still list everything', async () => {
    const volume = new MemoryVolume();
    const clock = tickingClock();
    await formatFileSystem(volume, { fsid: 7n, clock });
    // Listings of at most 4 entries, 3 inodes.
    const fs = await openFileSystem(volume, { fsid: 7n, clock, random: (n) => Buffer.alloc(n, 1), cachedInodes: 3, cachedDirEntries: 64 });
    const small = ref((await fs.mkdir(fs.root, 'small', {}, owner)).attr);
    const big = ref((await fs.mkdir(fs.root, 'big', {}, owner)).attr);
    for (let i = 0; i < 3; i++) await fs.create(small, `s${i}`, { how: 'unchecked', attrs: {} }, owner);
    const files: FileRef[] = [];
    for (let i = 0; i < 30; i++) files.push(ref((await fs.create(big, `b${i}`, { how: 'unchecked', attrs: {} }, owner)).attr));
    for (const page of [1, 7, Infinity]) {
      expect((await names(fs, small, true, page)).size).toBe(3);
      expect((await names(fs, big, true, page)).size).toBe(30);
      expect((await names(fs, big, false, page)).size).toBe(30);
    }
    for (let i = 0; i < 30; i++) {
      await fs.write(files[i]!, 0n, Buffer.alloc(i + 1, 2), StableHow.FILE_SYNC);
      expect((await fs.getattr(files[i]!)).size).toBe(BigInt(i + 1));
    }
    const sizes = await names(fs, big, true, 5);
    for (let i = 0; i < 30; i++) expect(sizes.get(`b${i}`)).toBe(BigInt(i + 1));
    await fs.remove(big, 'b0');
    await fs.create(small, 's3', { how: 'unchecked', attrs: {} }, owner);
    await fs.create(small, 's4', { how: 'unchecked', attrs: {} }, owner);
    expect((await names(fs, big, false, 3)).size).toBe(29);
    expect((await names(fs, small, false, 2)).size).toBe(5);
    expect((await fs.lookup(big, 'b1')).attr.type).toBe(FileType.REG);
  });
});
