/**
 * An honest in-memory FileSystem for libs/nfs unit tests (never served): it keeps the engine
 * contract of libs/fs/src/api.ts (STALE for gone refs, wcc taken around each change, stable
 * readdir cookies, EXCLUSIVE create verifiers, the SETATTR ctime guard) without durability.
 *
 * Invariants: inode numbers are never reused; every directory's `entries` map is in cookie
 * order (a new or renamed-in entry gets the next cookie of its directory and goes last); a
 * directory's nlink is 2 plus its subdirectories.
 */
import {
  type Attr,
  type CreateMode,
  type DirEntry,
  type FileRef,
  type FileSystem,
  FileType,
  FsError,
  FsErrorCode,
  type FsInfo,
  type FsStat,
  type NewNode,
  type RenameResult,
  type ReplyBuilder,
  type ReplyRecord,
  type NewNodeOwner,
  type ReaddirResult,
  type ReadResult,
  type SetAttrs,
  StableHow,
  type Timespec,
  type Wcc,
  type WccAttr,
  type WriteResult,
} from '@ferry/fs';

interface Node {
  ino: bigint;
  generation: number;
  type: FileType;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  data: Buffer; // REG contents (length = size)
  target: string; // LNK
  entries: Map<string, { ino: bigint; cookie: bigint }>; // DIR
  parent: bigint; // DIR
  nextCookie: bigint;
  rdevMajor: number;
  rdevMinor: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  verifier: Buffer | undefined;
}

export interface MemoryFileSystemOptions {
  fsid: bigint;
  /** Milliseconds; each call to it should move forward so ctimes differ. */
  clock: () => number;
  maxFileSize?: bigint;
  blockSize?: number;
}

export class MemoryFileSystem implements FileSystem {
  readonly fsid: bigint;
  readonly root: FileRef;
  readonly info: FsInfo;
  writeVerifier = Buffer.from('verf0001', 'latin1');
  /** Engine calls by method name, so tests can prove a handler ran once (or not at all). */
  readonly calls = new Map<string, number>();
  private readonly nodes = new Map<bigint, Node>();
  private nextIno = 2n;
  private readonly clock: () => number;
  private readonly injected = new Map<string, Error>();
  /** Bytes written UNSTABLE and not yet committed, per inode (a COMMIT clears them). */
  readonly unstable = new Map<bigint, number>();

  constructor(opts: MemoryFileSystemOptions) {
    this.fsid = opts.fsid;
    this.clock = opts.clock;
    this.info = {
      maxFileSize: opts.maxFileSize ?? (1n << 40n),
      blockSize: opts.blockSize ?? 4096,
      timeDeltaNs: 1,
      maxNameBytes: 255,
      maxLinks: 65000,
    };
    const root = this.newNode(FileType.DIR, 0o755, { uid: 0, gid: 0 }, 1n);
    root.parent = root.ino;
    this.root = { ino: root.ino, generation: root.generation };
  }

  /** The next call of `method` throws `err` (to test internal faults and engine errors). */
  inject(method: string, err: Error): void {
    this.injected.set(method, err);
  }

  private readonly gates = new Map<string, Promise<void>>();

  /** The next calls of `method` wait until the returned function is called. */
  hold(method: string): () => void {
    let release!: () => void;
    this.gates.set(method, new Promise<void>((r) => (release = r)));
    return () => {
      this.gates.delete(method);
      release();
    };
  }

  private async gate(method: string): Promise<void> {
    const g = this.gates.get(method);
    if (g !== undefined) await g;
  }

  private enter(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    const err = this.injected.get(method);
    if (err !== undefined) {
      this.injected.delete(method);
      throw err;
    }
  }

  private now(): Timespec {
    const ms = this.clock();
    return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
  }

  private newNode(type: FileType, mode: number, owner: NewNodeOwner, parent: bigint): Node {
    const t = this.now();
    const ino = this.nextIno++;
    const n: Node = {
      ino,
      generation: Number(ino % 1000n) + 7,
      type,
      mode: mode & 0o7777,
      nlink: type === FileType.DIR ? 2 : 1,
      uid: owner.uid,
      gid: owner.gid,
      data: Buffer.alloc(0),
      target: '',
      entries: new Map(),
      parent,
      nextCookie: 3n,
      rdevMajor: 0,
      rdevMinor: 0,
      atime: t,
      mtime: t,
      ctime: t,
      verifier: undefined,
    };
    this.nodes.set(ino, n);
    return n;
  }

  private node(ref: FileRef): Node {
    const n = this.nodes.get(ref.ino);
    if (n === undefined || n.generation !== ref.generation) throw new FsError(FsErrorCode.STALE);
    return n;
  }

  private dirNode(ref: FileRef): Node {
    const n = this.node(ref);
    if (n.type !== FileType.DIR) throw new FsError(FsErrorCode.NOTDIR);
    return n;
  }

  private attrOf(n: Node): Attr {
    return {
      type: n.type,
      mode: n.mode,
      nlink: n.nlink,
      uid: n.uid,
      gid: n.gid,
      size: n.type === FileType.LNK ? BigInt(Buffer.byteLength(n.target)) : n.type === FileType.DIR ? 4096n : BigInt(n.data.length),
      used: BigInt(Math.ceil(n.data.length / 4096) * 4096),
      rdevMajor: n.rdevMajor,
      rdevMinor: n.rdevMinor,
      fsid: this.fsid,
      ino: n.ino,
      generation: n.generation,
      atime: n.atime,
      mtime: n.mtime,
      ctime: n.ctime,
    };
  }

  private wccOf(n: Node): WccAttr {
    return { size: this.attrOf(n).size, mtime: n.mtime, ctime: n.ctime };
  }

  private checkName(name: string): void {
    if (Buffer.byteLength(name) > 255) throw new FsError(FsErrorCode.NAMETOOLONG);
    if (name.length === 0 || name.includes('/')) throw new FsError(FsErrorCode.INVAL);
  }

  private child(dir: Node, name: string): Node | undefined {
    if (name === '.') return dir;
    if (name === '..') return this.nodes.get(dir.parent);
    const e = dir.entries.get(name);
    return e === undefined ? undefined : this.nodes.get(e.ino);
  }

  private addEntry(dir: Node, name: string, n: Node): void {
    dir.entries.set(name, { ino: n.ino, cookie: dir.nextCookie++ });
    if (n.type === FileType.DIR) {
      dir.nlink++;
      n.parent = dir.ino;
    }
    const t = this.now();
    dir.mtime = t;
    dir.ctime = t;
  }

  private dropEntry(dir: Node, name: string, n: Node): void {
    dir.entries.delete(name);
    if (n.type === FileType.DIR) {
      dir.nlink--;
      this.nodes.delete(n.ino);
    } else {
      n.nlink--;
      n.ctime = this.now();
      if (n.nlink === 0) this.nodes.delete(n.ino);
    }
    const t = this.now();
    dir.mtime = t;
    dir.ctime = t;
  }

  private apply(n: Node, a: SetAttrs): void {
    if (a.mode !== undefined) n.mode = a.mode & 0o7777;
    if (a.uid !== undefined) n.uid = a.uid;
    if (a.gid !== undefined) n.gid = a.gid;
    if (a.size !== undefined) {
      if (n.type !== FileType.REG) throw new FsError(n.type === FileType.DIR ? FsErrorCode.ISDIR : FsErrorCode.INVAL);
      if (a.size > this.info.maxFileSize) throw new FsError(FsErrorCode.FBIG);
      const size = Number(a.size);
      const next = Buffer.alloc(size);
      n.data.copy(next, 0, 0, Math.min(size, n.data.length));
      n.data = next;
      n.mtime = this.now();
    }
    if (a.atime !== undefined) n.atime = a.atime === 'now' ? this.now() : a.atime;
    if (a.mtime !== undefined) n.mtime = a.mtime === 'now' ? this.now() : a.mtime;
    n.ctime = this.now();
  }

  async getattr(file: FileRef): Promise<Attr> {
    this.enter('getattr');
    return this.attrOf(this.node(file));
  }

  async setattr(file: FileRef, attrs: SetAttrs, guardCtime?: Timespec, answer?: ReplyBuilder<Wcc>): Promise<Wcc> {
    this.enter('setattr');
    const n = this.node(file);
    const before = this.wccOf(n);
    if (guardCtime !== undefined && (guardCtime.sec !== n.ctime.sec || guardCtime.nsec !== n.ctime.nsec)) {
      throw new FsError(FsErrorCode.NOT_SYNC, undefined, { before, after: this.attrOf(n) });
    }
    this.apply(n, attrs);
    return this.answered({ before, after: this.attrOf(n) }, answer);
  }

  async lookup(dir: FileRef, name: string): Promise<{ attr: Attr; dirAttr: Attr }> {
    this.enter('lookup');
    const d = this.dirNode(dir);
    this.checkName(name);
    const c = this.child(d, name);
    if (c === undefined) throw new FsError(FsErrorCode.NOENT);
    return { attr: this.attrOf(c), dirAttr: this.attrOf(d) };
  }

  async read(file: FileRef, offset: bigint, count: number): Promise<ReadResult> {
    this.enter('read');
    const n = this.node(file);
    if (n.type !== FileType.REG) throw new FsError(n.type === FileType.DIR ? FsErrorCode.ISDIR : FsErrorCode.INVAL);
    const size = BigInt(n.data.length);
    const start = offset >= size ? n.data.length : Number(offset);
    const end = Math.min(n.data.length, start + count);
    const data = Buffer.from(n.data.subarray(start, end));
    return { data, eof: end >= n.data.length, attr: this.attrOf(n) };
  }

  async write(file: FileRef, offset: bigint, data: Buffer, stable: StableHow): Promise<WriteResult> {
    this.enter('write');
    const n = this.node(file);
    if (n.type !== FileType.REG) throw new FsError(n.type === FileType.DIR ? FsErrorCode.ISDIR : FsErrorCode.INVAL);
    const before = this.wccOf(n);
    const end = offset + BigInt(data.length);
    if (end > this.info.maxFileSize) throw new FsError(FsErrorCode.FBIG, undefined, { before, after: this.attrOf(n) });
    if (end > BigInt(n.data.length)) {
      const next = Buffer.alloc(Number(end));
      n.data.copy(next);
      n.data = next;
    }
    data.copy(n.data, Number(offset));
    const t = this.now();
    n.mtime = t;
    n.ctime = t;
    if (stable === StableHow.UNSTABLE) this.unstable.set(n.ino, (this.unstable.get(n.ino) ?? 0) + data.length);
    return { count: data.length, committed: stable === StableHow.UNSTABLE ? StableHow.UNSTABLE : StableHow.FILE_SYNC, wcc: { before, after: this.attrOf(n) } };
  }

  async commit(file: FileRef): Promise<Wcc> {
    this.enter('commit');
    const n = this.node(file);
    this.unstable.delete(n.ino);
    return { before: this.wccOf(n), after: this.attrOf(n) };
  }

  private async make(
    method: string,
    dir: FileRef,
    name: string,
    build: (d: Node) => Node | { existing: Node },
  ): Promise<{ attr: Attr; dirWcc: Wcc }> {
    this.enter(method);
    await this.gate(method);
    const d = this.dirNode(dir);
    this.checkName(name);
    const before = this.wccOf(d);
    const fail = (code: FsErrorCode): never => {
      throw new FsError(code, undefined, { before, after: this.attrOf(d) });
    };
    if (name === '.' || name === '..') fail(FsErrorCode.EXIST);
    const r = build(d);
    if ('existing' in r) return { attr: this.attrOf(r.existing), dirWcc: { before, after: this.attrOf(d) } };
    this.addEntry(d, name, r);
    return { attr: this.attrOf(r), dirWcc: { before, after: this.attrOf(d) } };
  }

  async create(dir: FileRef, name: string, mode: CreateMode, owner: NewNodeOwner, answer?: ReplyBuilder<NewNode>): Promise<NewNode> {
    const made = await this.make('create', dir, name, (d) => {
      const existing = this.child(d, name);
      if (existing !== undefined) {
        if (mode.how === 'guarded') throw new FsError(FsErrorCode.EXIST, undefined, { before: this.wccOf(d), after: this.attrOf(d) });
        if (mode.how === 'exclusive') {
          if (existing.verifier?.equals(mode.verifier) === true) return { existing };
          throw new FsError(FsErrorCode.EXIST, undefined, { before: this.wccOf(d), after: this.attrOf(d) });
        }
        if (existing.type !== FileType.REG) throw new FsError(FsErrorCode.EXIST, undefined, { before: this.wccOf(d), after: this.attrOf(d) });
        if (mode.attrs.size !== undefined) this.apply(existing, { size: mode.attrs.size });
        return { existing };
      }
      const attrs = mode.how === 'exclusive' ? {} : mode.attrs;
      const n = this.newNode(FileType.REG, attrs.mode ?? 0o644, owner, d.ino);
      if (mode.how === 'exclusive') n.verifier = Buffer.from(mode.verifier);
      else this.apply(n, { ...attrs, mode: undefined });
      return n;
    });
    return this.answered(made, answer);
  }

  async mkdir(dir: FileRef, name: string, attrs: SetAttrs, owner: NewNodeOwner, answer?: ReplyBuilder<NewNode>): Promise<NewNode> {
    const made = await this.make('mkdir', dir, name, (d) => {
      if (this.child(d, name) !== undefined) throw new FsError(FsErrorCode.EXIST, undefined, { before: this.wccOf(d), after: this.attrOf(d) });
      return this.newNode(FileType.DIR, attrs.mode ?? 0o755, owner, d.ino);
    });
    return this.answered(made, answer);
  }

  async symlink(dir: FileRef, name: string, target: string, attrs: SetAttrs, owner: NewNodeOwner, answer?: ReplyBuilder<NewNode>): Promise<NewNode> {
    const made = await this.make('symlink', dir, name, (d) => {
      if (this.child(d, name) !== undefined) throw new FsError(FsErrorCode.EXIST, undefined, { before: this.wccOf(d), after: this.attrOf(d) });
      const n = this.newNode(FileType.LNK, attrs.mode ?? 0o777, owner, d.ino);
      n.target = target;
      return n;
    });
    return this.answered(made, answer);
  }

  async mknod(
    dir: FileRef,
    name: string,
    type: FileType.BLK | FileType.CHR | FileType.SOCK | FileType.FIFO,
    rdev: { major: number; minor: number },
    attrs: SetAttrs,
    owner: NewNodeOwner,
    answer?: ReplyBuilder<NewNode>,
  ): Promise<NewNode> {
    const made = await this.make('mknod', dir, name, (d) => {
      if (this.child(d, name) !== undefined) throw new FsError(FsErrorCode.EXIST, undefined, { before: this.wccOf(d), after: this.attrOf(d) });
      const n = this.newNode(type, attrs.mode ?? 0o644, owner, d.ino);
      n.rdevMajor = rdev.major;
      n.rdevMinor = rdev.minor;
      return n;
    });
    return this.answered(made, answer);
  }

  async readlink(file: FileRef): Promise<{ target: string; attr: Attr }> {
    this.enter('readlink');
    const n = this.node(file);
    if (n.type !== FileType.LNK) throw new FsError(FsErrorCode.INVAL);
    return { target: n.target, attr: this.attrOf(n) };
  }

  private unlinkCommon(method: string, dir: FileRef, name: string, wantDir: boolean): Wcc {
    this.enter(method);
    const d = this.dirNode(dir);
    this.checkName(name);
    const before = this.wccOf(d);
    const fail = (code: FsErrorCode): never => {
      throw new FsError(code, undefined, { before, after: this.attrOf(d) });
    };
    if (name === '.' || name === '..') fail(FsErrorCode.INVAL);
    const c = this.child(d, name);
    if (c === undefined) return fail(FsErrorCode.NOENT);
    if (wantDir && c.type !== FileType.DIR) fail(FsErrorCode.NOTDIR);
    if (!wantDir && c.type === FileType.DIR) fail(FsErrorCode.ISDIR);
    if (wantDir && c.entries.size > 0) fail(FsErrorCode.NOTEMPTY);
    this.dropEntry(d, name, c);
    return { before, after: this.attrOf(d) };
  }

  async remove(dir: FileRef, name: string, answer?: ReplyBuilder<Wcc>): Promise<Wcc> {
    return this.answered(this.unlinkCommon('remove', dir, name, false), answer);
  }

  async rmdir(dir: FileRef, name: string, answer?: ReplyBuilder<Wcc>): Promise<Wcc> {
    return this.answered(this.unlinkCommon('rmdir', dir, name, true), answer);
  }

  async rename(fromDir: FileRef, fromName: string, toDir: FileRef, toName: string, answer?: ReplyBuilder<RenameResult>): Promise<RenameResult> {
    this.enter('rename');
    const fd = this.dirNode(fromDir);
    const td = this.dirNode(toDir);
    this.checkName(fromName);
    this.checkName(toName);
    const fb = this.wccOf(fd);
    const tb = this.wccOf(td);
    const fail = (code: FsErrorCode): never => {
      throw new FsError(code, undefined, { before: fb, after: this.attrOf(fd) }, { before: tb, after: this.attrOf(td) });
    };
    const src = fd.entries.has(fromName) ? this.child(fd, fromName) : undefined;
    if (src === undefined) return fail(FsErrorCode.NOENT);
    // Moving a directory under itself would detach a cycle.
    for (let p = td; src.type === FileType.DIR; ) {
      if (p.ino === src.ino) fail(FsErrorCode.INVAL);
      if (p.parent === p.ino) break;
      p = this.nodes.get(p.parent) as Node;
    }
    const dst = td.entries.has(toName) ? this.child(td, toName) : undefined;
    if (dst !== undefined) {
      if (dst.ino === src.ino) return this.answered({ fromWcc: { before: fb, after: this.attrOf(fd) }, toWcc: { before: tb, after: this.attrOf(td) } }, answer);
      if (src.type === FileType.DIR && dst.type !== FileType.DIR) fail(FsErrorCode.NOTDIR);
      if (src.type !== FileType.DIR && dst.type === FileType.DIR) fail(FsErrorCode.ISDIR);
      if (dst.type === FileType.DIR && dst.entries.size > 0) fail(FsErrorCode.NOTEMPTY);
      this.dropEntry(td, toName, dst);
    }
    fd.entries.delete(fromName);
    if (src.type === FileType.DIR) fd.nlink--;
    const t = this.now();
    fd.mtime = t;
    fd.ctime = t;
    this.addEntry(td, toName, src);
    src.ctime = this.now();
    return this.answered({ fromWcc: { before: fb, after: this.attrOf(fd) }, toWcc: { before: tb, after: this.attrOf(td) } }, answer);
  }

  async link(file: FileRef, dir: FileRef, name: string, answer?: ReplyBuilder<NewNode>): Promise<NewNode> {
    const n = this.node(file);
    const made = await this.make('link', dir, name, (d) => {
      if (n.type === FileType.DIR) throw new FsError(FsErrorCode.PERM);
      if (this.child(d, name) !== undefined) throw new FsError(FsErrorCode.EXIST, undefined, { before: this.wccOf(d), after: this.attrOf(d) });
      n.nlink++;
      n.ctime = this.now();
      d.entries.set(name, { ino: n.ino, cookie: d.nextCookie++ });
      const t = this.now();
      d.mtime = t;
      d.ctime = t;
      return { existing: n };
    });
    return this.answered(made, answer);
  }

  async readdir(dir: FileRef, cookie: bigint, withAttrs: boolean, accept: (entry: DirEntry) => boolean): Promise<ReaddirResult> {
    this.enter('readdir');
    const d = this.dirNode(dir);
    const all: Array<{ cookie: bigint; name: string; node: Node }> = [
      { cookie: 1n, name: '.', node: d },
      { cookie: 2n, name: '..', node: this.nodes.get(d.parent) as Node },
    ];
    for (const [name, e] of d.entries) all.push({ cookie: e.cookie, name, node: this.nodes.get(e.ino) as Node });
    let eof = true;
    const entries: DirEntry[] = [];
    for (const e of all) {
      if (e.cookie <= cookie) continue;
      const entry: DirEntry = { cookie: e.cookie, name: e.name, ino: e.node.ino };
      if (withAttrs) entry.attr = this.attrOf(e.node);
      if (!accept(entry)) {
        eof = false;
        break;
      }
      entries.push(entry);
    }
    return { entries, eof, dirAttr: this.attrOf(d) };
  }

  async statfs(): Promise<FsStat> {
    this.enter('statfs');
    return {
      totalBytes: 1n << 30n,
      freeBytes: 1n << 29n,
      availBytes: 1n << 29n,
      totalFiles: 1000000n,
      freeFiles: 1000000n - BigInt(this.nodes.size),
      availFiles: 1000000n - BigInt(this.nodes.size),
    };
  }

  /** Reply records as the engine keeps them (the newest `replyRecordsMax`), copied in. */
  readonly replies: ReplyRecord[] = [];
  replyRecordsMax = 4096;

  recordReply(key: Buffer, reply: Buffer): void {
    this.replies.push({ key: Buffer.from(key), reply: Buffer.from(reply) });
    if (this.replies.length > this.replyRecordsMax) this.replies.shift();
  }

  /** Replies kept with their operation (`ReplyBuilder`), counted apart from `recordReply`. */
  answeredRecords = 0;

  private answered<R>(result: R, answer: ReplyBuilder<R> | undefined): R {
    const r = answer?.(result);
    if (r !== undefined) {
      this.answeredRecords++;
      this.replies.push({ key: Buffer.from(r.key), reply: Buffer.from(r.reply) });
      if (this.replies.length > this.replyRecordsMax) this.replies.shift();
    }
    return result;
  }

  replyRecords(): ReplyRecord[] {
    return [...this.replies];
  }

  /** Records are kept at once here. */
  repliesDurableCalls = 0;
  repliesDurable(): Promise<void> {
    this.repliesDurableCalls++;
    return Promise.resolve();
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
