// Goal: any sequence of namespace and data operations leaves the engine in the state a simple
// reference model predicts, with the same error codes, and fsck clean. Method: fast-check
// generates command sequences (create, mkdir, symlink, write, read, truncate, link, rename,
// remove, rmdir, including hard links, renames over targets, sparse writes and truncates) that
// run on both, then the whole tree and every file's blocks are compared, also after a reopen.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FileRef, type FileSystem, FileType, FsError, FsErrorCode, StableHow } from '../api';
import { checkFileSystem } from '../fsck/check';
import { makeFs, owner, reopen } from './test-helpers';

const B = 4096;
type MNode =
  | { kind: 'file'; id: number; nlink: number; size: number; blocks: Map<number, Buffer>; ref: FileRef }
  | { kind: 'dir'; id: number; entries: Map<string, number>; parent: number; ref: FileRef }
  | { kind: 'link'; id: number; nlink: number; target: string; ref: FileRef };

class Model {
  nodes = new Map<number, MNode>();
  nextId = 1;
  constructor(root: FileRef) {
    this.nodes.set(0, { kind: 'dir', id: 0, entries: new Map(), parent: 0, ref: root });
  }
  dirs(): Array<MNode & { kind: 'dir' }> {
    return [...this.nodes.values()].filter((n): n is MNode & { kind: 'dir' } => n.kind === 'dir').sort((a, b) => a.id - b.id);
  }
  files(): Array<MNode & { kind: 'file' }> {
    return [...this.nodes.values()].filter((n): n is MNode & { kind: 'file' } => n.kind === 'file').sort((a, b) => a.id - b.id);
  }
  isAncestorOrSelf(anc: number, d: number): boolean {
    for (let cur = d; ; ) {
      if (cur === anc) return true;
      if (cur === 0) return false;
      cur = (this.nodes.get(cur) as MNode & { kind: 'dir' }).parent;
    }
  }
  unlinkNode(id: number): void {
    const n = this.nodes.get(id)!;
    if (n.kind === 'dir') this.nodes.delete(id);
    else if (--n.nlink === 0) this.nodes.delete(id);
  }
  read(f: MNode & { kind: 'file' }, off: number, len: number): Buffer {
    const end = Math.min(f.size, off + len);
    if (off >= end) return Buffer.alloc(0);
    const out = Buffer.alloc(end - off);
    for (let b = Math.floor(off / B); b * B < end; b++) {
      const blk = f.blocks.get(b);
      if (!blk) continue;
      const s = Math.max(off, b * B);
      const t = Math.min(end, (b + 1) * B);
      blk.copy(out, s - off, s - b * B, t - b * B);
    }
    return out;
  }
  write(f: MNode & { kind: 'file' }, off: number, data: Buffer): void {
    for (let i = 0; i < data.length; ) {
      const p = off + i;
      const b = Math.floor(p / B);
      let blk = f.blocks.get(b);
      if (!blk) f.blocks.set(b, (blk = Buffer.alloc(B)));
      const n = Math.min(B - (p - b * B), data.length - i);
      data.copy(blk, p - b * B, i, i + n);
      i += n;
    }
    f.size = Math.max(f.size, off + data.length);
  }
  truncate(f: MNode & { kind: 'file' }, size: number): void {
    for (const b of [...f.blocks.keys()]) if (b * B >= size) f.blocks.delete(b);
    const blk = f.blocks.get(Math.floor(size / B));
    if (blk) blk.fill(0, size % B);
    f.size = size;
  }
}

const NAMES = ['a', 'b', 'c', 'd'];
const offsetArb = fc.oneof(fc.integer({ min: 0, max: 5 * B }), fc.constantFrom(2 ** 33 - 100, 2 ** 33 + B * 3 + 7));
const cmdArb = fc.oneof(
  fc.record({ op: fc.constant('create' as const), d: fc.nat(), n: fc.constantFrom(...NAMES) }),
  fc.record({ op: fc.constant('mkdir' as const), d: fc.nat(), n: fc.constantFrom(...NAMES) }),
  fc.record({ op: fc.constant('symlink' as const), d: fc.nat(), n: fc.constantFrom(...NAMES) }),
  fc.record({
    op: fc.constant('write' as const),
    f: fc.nat(),
    off: offsetArb,
    len: fc.integer({ min: 1, max: 3 * B }),
    byte: fc.integer({ min: 1, max: 255 }),
    stable: fc.constantFrom(StableHow.UNSTABLE, StableHow.FILE_SYNC),
  }),
  fc.record({ op: fc.constant('read' as const), f: fc.nat(), off: offsetArb, len: fc.integer({ min: 0, max: 3 * B }) }),
  fc.record({ op: fc.constant('truncate' as const), f: fc.nat(), size: offsetArb }),
  fc.record({ op: fc.constant('commit' as const), f: fc.nat() }),
  fc.record({ op: fc.constant('link' as const), f: fc.nat(), d: fc.nat(), n: fc.constantFrom(...NAMES) }),
  fc.record({ op: fc.constant('rename' as const), d: fc.nat(), n: fc.constantFrom(...NAMES), d2: fc.nat(), n2: fc.constantFrom(...NAMES) }),
  fc.record({ op: fc.constant('remove' as const), d: fc.nat(), n: fc.constantFrom(...NAMES) }),
  fc.record({ op: fc.constant('rmdir' as const), d: fc.nat(), n: fc.constantFrom(...NAMES) }),
);
type Cmd = typeof cmdArb extends fc.Arbitrary<infer T> ? T : never;

async function outcome<T>(p: Promise<T>): Promise<{ ok: T } | { err: FsErrorCode }> {
  try {
    return { ok: await p };
  } catch (e) {
    if (e instanceof FsError) return { err: e.code };
    throw e;
  }
}

async function step(fs: FileSystem, m: Model, c: Cmd): Promise<void> {
  const dirs = m.dirs();
  const files = m.files();
  const pick = <T>(l: T[], i: number): T | undefined => (l.length ? l[i % l.length] : undefined);
  switch (c.op) {
    case 'create':
    case 'mkdir':
    case 'symlink': {
      const d = pick(dirs, c.d)!;
      const existing = d.entries.get(c.n);
      const p =
        c.op === 'create'
          ? fs.create(d.ref, c.n, { how: 'unchecked', attrs: {} }, owner)
          : c.op === 'mkdir'
            ? fs.mkdir(d.ref, c.n, {}, owner)
            : fs.symlink(d.ref, c.n, `t-${c.n}`, {}, owner);
      const r = await outcome(p);
      if (existing !== undefined) {
        const ex = m.nodes.get(existing)!;
        if (c.op === 'create' && ex.kind === 'file') expect(r).toHaveProperty('ok');
        else expect(r).toEqual({ err: FsErrorCode.EXIST });
        return;
      }
      if (!('ok' in r)) throw new Error(`${c.op} failed: ${r.err}`);
      const id = m.nextId++;
      const ref = { ino: r.ok.attr.ino, generation: r.ok.attr.generation };
      if (c.op === 'create') m.nodes.set(id, { kind: 'file', id, nlink: 1, size: 0, blocks: new Map(), ref });
      else if (c.op === 'mkdir') m.nodes.set(id, { kind: 'dir', id, entries: new Map(), parent: d.id, ref });
      else m.nodes.set(id, { kind: 'link', id, nlink: 1, target: `t-${c.n}`, ref });
      d.entries.set(c.n, id);
      return;
    }
    case 'write': {
      const f = pick(files, c.f);
      if (!f) return;
      const data = Buffer.alloc(c.len, c.byte);
      const r = await fs.write(f.ref, BigInt(c.off), data, c.stable);
      m.write(f, c.off, data);
      expect(r.wcc.after?.size).toBe(BigInt(f.size));
      return;
    }
    case 'read': {
      const f = pick(files, c.f);
      if (!f) return;
      const r = await fs.read(f.ref, BigInt(c.off), c.len);
      expect(r.data.equals(m.read(f, c.off, c.len))).toBe(true);
      expect(r.eof).toBe(c.off + c.len >= f.size);
      return;
    }
    case 'truncate': {
      const f = pick(files, c.f);
      if (!f) return;
      await fs.setattr(f.ref, { size: BigInt(c.size) });
      m.truncate(f, c.size);
      return;
    }
    case 'commit': {
      const f = pick(files, c.f);
      if (f) await fs.commit(f.ref, 0n, 0);
      return;
    }
    case 'link': {
      const f = pick(files, c.f);
      if (!f) return;
      const d = pick(dirs, c.d)!;
      const r = await outcome(fs.link(f.ref, d.ref, c.n));
      if (d.entries.has(c.n)) {
        expect(r).toEqual({ err: FsErrorCode.EXIST });
        return;
      }
      expect(r).toHaveProperty('ok');
      d.entries.set(c.n, f.id);
      f.nlink++;
      return;
    }
    case 'remove':
    case 'rmdir': {
      const d = pick(dirs, c.d)!;
      const r = await outcome(c.op === 'remove' ? fs.remove(d.ref, c.n) : fs.rmdir(d.ref, c.n));
      const id = d.entries.get(c.n);
      if (id === undefined) return expect(r).toEqual({ err: FsErrorCode.NOENT });
      const n = m.nodes.get(id)!;
      if (c.op === 'remove' && n.kind === 'dir') return expect(r).toEqual({ err: FsErrorCode.ISDIR });
      if (c.op === 'rmdir' && n.kind !== 'dir') return expect(r).toEqual({ err: FsErrorCode.NOTDIR });
      if (n.kind === 'dir' && n.entries.size > 0) return expect(r).toEqual({ err: FsErrorCode.NOTEMPTY });
      expect(r).toHaveProperty('ok');
      d.entries.delete(c.n);
      m.unlinkNode(id);
      return;
    }
    case 'rename': {
      const d = pick(dirs, c.d)!;
      const d2 = pick(dirs, c.d2)!;
      const r = await outcome(fs.rename(d.ref, c.n, d2.ref, c.n2));
      const src = d.entries.get(c.n);
      if (src === undefined) return expect(r).toEqual({ err: FsErrorCode.NOENT });
      const dst = d2.entries.get(c.n2);
      if (dst === src) return expect(r).toHaveProperty('ok');
      const sn = m.nodes.get(src)!;
      if (sn.kind === 'dir' && d.id !== d2.id && m.isAncestorOrSelf(src, d2.id)) return expect(r).toEqual({ err: FsErrorCode.INVAL });
      if (dst !== undefined) {
        const dn = m.nodes.get(dst)!;
        if (sn.kind === 'dir' && dn.kind !== 'dir') return expect(r).toEqual({ err: FsErrorCode.NOTDIR });
        if (sn.kind !== 'dir' && dn.kind === 'dir') return expect(r).toEqual({ err: FsErrorCode.ISDIR });
        if (dn.kind === 'dir' && dn.entries.size > 0) return expect(r).toEqual({ err: FsErrorCode.NOTEMPTY });
      }
      expect(r).toHaveProperty('ok');
      if (dst !== undefined) m.unlinkNode(dst);
      d.entries.delete(c.n);
      d2.entries.set(c.n2, src);
      if (sn.kind === 'dir') sn.parent = d2.id;
      return;
    }
  }
}

async function compare(fs: FileSystem, m: Model, dirId: number, ref: FileRef): Promise<void> {
  const d = m.nodes.get(dirId) as MNode & { kind: 'dir' };
  const seen = new Map<string, bigint>();
  const res = await fs.readdir(ref, 0n, true, (e) => {
    if (e.name !== '.' && e.name !== '..') seen.set(e.name, e.ino);
    return true;
  });
  expect(res.eof).toBe(true);
  expect([...seen.keys()].sort()).toEqual([...d.entries.keys()].sort());
  const subdirs = [...d.entries.values()].filter((id) => m.nodes.get(id)!.kind === 'dir').length;
  expect((await fs.getattr(ref)).nlink).toBe(2 + subdirs);
  for (const [name, id] of d.entries) {
    const n = m.nodes.get(id)!;
    expect(seen.get(name)).toBe(n.ref.ino);
    const a = await fs.getattr(n.ref);
    if (n.kind === 'dir') {
      expect(a.type).toBe(FileType.DIR);
      await compare(fs, m, id, n.ref);
    } else if (n.kind === 'link') {
      expect((await fs.readlink(n.ref)).target).toBe(n.target);
    } else {
      expect(a.nlink).toBe(n.nlink);
      expect(a.size).toBe(BigInt(n.size));
      expect(a.used).toBeLessThanOrEqual(BigInt(n.blocks.size * B));
      for (const b of n.blocks.keys()) {
        const got = await fs.read(n.ref, BigInt(b * B), B);
        expect(got.data.equals(m.read(n, b * B, B))).toBe(true);
      }
      const head = await fs.read(n.ref, 0n, 3 * B);
      expect(head.data.equals(m.read(n, 0, 3 * B))).toBe(true);
    }
  }
}

describe('engine against a reference model', () => {
  it('matches the model for random command sequences, before and after a reopen', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 60 }), async (cmds) => {
        const { fs, volume, clock } = await makeFs({ maxBlocks: 8192 });
        const m = new Model(fs.root);
        for (const c of cmds) await step(fs, m, c);
        await compare(fs, m, 0, fs.root);
        await fs.flush();
        const rep = await checkFileSystem(volume);
        expect(rep.problems).toEqual([]);
        const fs2 = await reopen(volume.crashCopy(), clock);
        await compare(fs2, m, 0, fs2.root);
      }),
      { numRuns: 200 },
    );
  });
});
