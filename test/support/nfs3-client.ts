/**
 * A small, independent NFSv3 client for end-to-end and crash tests. It is written from
 * RFC 1813 directly (not from libs/nfs), so the server's codecs are checked against a second
 * reading of the RFC. Only what the tests need; every reply status is checked.
 */
import { AuthFlavor, RpcClient, type Credential } from '@ferry/oncrpc';
import { XdrReader, type XdrWriter } from '@ferry/xdr';

const NFS = 100003;
const MOUNT = 100005;

export class NfsStatusError extends Error {
  constructor(
    readonly proc: string,
    readonly status: number,
  ) {
    super(`${proc}: nfsstat3 ${status}`);
    this.name = 'NfsStatusError';
  }
}

export interface Fattr {
  type: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: bigint;
  used: bigint;
  fileid: bigint;
  mtimeSec: number;
  mtimeNsec: number;
}

export const Stable = { UNSTABLE: 0, DATA_SYNC: 1, FILE_SYNC: 2 } as const;

function fattr3(r: XdrReader): Fattr {
  const type = r.uint();
  const mode = r.uint();
  const nlink = r.uint();
  const uid = r.uint();
  const gid = r.uint();
  const size = r.uhyper();
  const used = r.uhyper();
  r.uint(); // rdev specdata1
  r.uint(); // rdev specdata2
  r.uhyper(); // fsid
  const fileid = r.uhyper();
  r.uint(); // atime
  r.uint();
  const mtimeSec = r.uint();
  const mtimeNsec = r.uint();
  r.uint(); // ctime
  r.uint();
  return { type, mode, nlink, uid, gid, size, used, fileid, mtimeSec, mtimeNsec };
}

function postOpAttr(r: XdrReader): Fattr | undefined {
  return r.bool() ? fattr3(r) : undefined;
}

function wccData(r: XdrReader): void {
  if (r.bool()) {
    r.uhyper();
    r.uint();
    r.uint();
    r.uint();
    r.uint();
  }
  postOpAttr(r);
}

function postOpFh(r: XdrReader): Buffer | undefined {
  return r.bool() ? Buffer.from(r.opaque(64)) : undefined;
}

/** sattr3 with only a mode set (others: don't change). */
function sattrMode(w: XdrWriter, mode?: number): void {
  w.bool(mode !== undefined);
  if (mode !== undefined) w.uint(mode);
  w.bool(false); // uid
  w.bool(false); // gid
  w.bool(false); // size
  w.uint(0); // atime DONT_CHANGE
  w.uint(0); // mtime DONT_CHANGE
}

export class Nfs3Client {
  private constructor(
    readonly rpc: RpcClient,
    readonly root: Buffer,
    private readonly cred: Credential,
  ) {}

  static async mount(host: string, port: number, exportPath: string, opts: { uid?: number; gid?: number; timeoutMs?: number } = {}): Promise<Nfs3Client> {
    const rpc = await RpcClient.connectTcp(host, port, { timeoutMs: opts.timeoutMs ?? 30_000 });
    const cred: Credential = {
      flavor: AuthFlavor.AUTH_SYS,
      sys: { stamp: 1, machinename: 'ferry-test', uid: opts.uid ?? 0, gid: opts.gid ?? 0, gids: [] },
    };
    const { reader } = await rpc.call(MOUNT, 3, 1, (w) => w.string(exportPath), cred);
    const status = reader.uint();
    if (status !== 0) {
      await rpc.close();
      throw new NfsStatusError('MNT', status);
    }
    const root = Buffer.from(reader.opaque(64));
    return new Nfs3Client(rpc, root, cred);
  }

  close(): Promise<void> {
    return this.rpc.close();
  }

  private async call(name: string, proc: number, args: (w: XdrWriter) => void): Promise<XdrReader> {
    const { reader } = await this.rpc.call(NFS, 3, proc, args, this.cred);
    const status = reader.uint();
    if (status !== 0) throw new NfsStatusError(name, status);
    return reader;
  }

  async getattr(fh: Buffer): Promise<Fattr> {
    const r = await this.call('GETATTR', 1, (w) => w.opaque(fh));
    return fattr3(r);
  }

  async lookup(dir: Buffer, name: string): Promise<{ fh: Buffer; attr?: Fattr }> {
    const r = await this.call('LOOKUP', 3, (w) => w.opaque(dir).string(name));
    const fh = Buffer.from(r.opaque(64));
    return { fh, attr: postOpAttr(r) };
  }

  async read(fh: Buffer, offset: bigint, count: number): Promise<{ data: Buffer; eof: boolean }> {
    const r = await this.call('READ', 6, (w) => w.opaque(fh).uhyper(offset).uint(count));
    postOpAttr(r);
    r.uint(); // count
    const eof = r.bool();
    const data = Buffer.from(r.opaque(count));
    return { data, eof };
  }

  /** Reads a whole file of unknown size. */
  async readAll(fh: Buffer, chunk = 1 << 20): Promise<Buffer> {
    const parts: Buffer[] = [];
    let off = 0n;
    for (;;) {
      const { data, eof } = await this.read(fh, off, chunk);
      parts.push(data);
      off += BigInt(data.length);
      if (eof || data.length === 0) return Buffer.concat(parts);
    }
  }

  async write(fh: Buffer, offset: bigint, data: Buffer, stable: number): Promise<{ count: number; committed: number; verf: Buffer }> {
    const r = await this.call('WRITE', 7, (w) => w.opaque(fh).uhyper(offset).uint(data.length).uint(stable).opaque(data));
    wccData(r);
    const count = r.uint();
    const committed = r.uint();
    const verf = Buffer.from(r.fixedOpaque(8));
    return { count, committed, verf };
  }

  async commit(fh: Buffer): Promise<Buffer> {
    const r = await this.call('COMMIT', 21, (w) => w.opaque(fh).uhyper(0n).uint(0));
    wccData(r);
    return Buffer.from(r.fixedOpaque(8));
  }

  /** CREATE GUARDED with mode 0644. */
  async create(dir: Buffer, name: string, mode = 0o644): Promise<Buffer> {
    const r = await this.call('CREATE', 8, (w) => {
      w.opaque(dir).string(name).uint(1);
      sattrMode(w, mode);
    });
    const fh = postOpFh(r);
    if (!fh) return (await this.lookup(dir, name)).fh;
    return fh;
  }

  async mkdir(dir: Buffer, name: string, mode = 0o755): Promise<Buffer> {
    const r = await this.call('MKDIR', 9, (w) => {
      w.opaque(dir).string(name);
      sattrMode(w, mode);
    });
    const fh = postOpFh(r);
    if (!fh) return (await this.lookup(dir, name)).fh;
    return fh;
  }

  async remove(dir: Buffer, name: string): Promise<void> {
    await this.call('REMOVE', 12, (w) => w.opaque(dir).string(name));
  }

  async rmdir(dir: Buffer, name: string): Promise<void> {
    await this.call('RMDIR', 13, (w) => w.opaque(dir).string(name));
  }

  async rename(fromDir: Buffer, fromName: string, toDir: Buffer, toName: string): Promise<void> {
    await this.call('RENAME', 14, (w) => w.opaque(fromDir).string(fromName).opaque(toDir).string(toName));
  }

  /** All names in a directory (READDIR, following cookies), without "." and "..". */
  async readdirNames(dir: Buffer): Promise<string[]> {
    const names: string[] = [];
    let cookie = 0n;
    let verf: Buffer = Buffer.alloc(8);
    for (;;) {
      const r = await this.call('READDIR', 16, (w) => w.opaque(dir).uhyper(cookie).fixedOpaque(verf).uint(32768));
      postOpAttr(r);
      verf = Buffer.from(r.fixedOpaque(8));
      while (r.bool()) {
        r.uhyper(); // fileid
        const name = r.string(255);
        cookie = r.uhyper();
        if (name !== '.' && name !== '..') names.push(name);
      }
      if (r.bool()) return names;
    }
  }
}
