/**
 * RFC 1813 §3.3.11 MKNOD: FIFOs and sockets for anyone who may create in the directory; device
 * nodes only for root (CAP_MKNOD); other types answer NFS3ERR_BADTYPE.
 */
import { FileType, type NewNode } from '@ferry/fs';
import { XdrError } from '@ferry/xdr';
import type { Nfs3Procedure } from '../procedure';
import { NfsError } from '../result';
import {
  type Diropargs3,
  Ftype3,
  NfsStat3,
  readDiropargs3,
  readSattr3,
  type Sattr3,
  type Specdata3,
  writeDiropargs3,
  writeSattr3,
} from '../xdr-types';
import { diropres3Fail, diropres3Ok, type Diropres3, prepareCreate, readDiropres3, setAttrsFromSattr3, writeDiropres3 } from './common';

/** RFC 1813 §3.3.11 mknoddata3 (devicedata3 for CHR/BLK, sattr3 for SOCK/FIFO, void otherwise). */
export type Mknoddata3 =
  | { type: Ftype3.NF3CHR | Ftype3.NF3BLK; dev_attributes: Sattr3; spec: Specdata3 }
  | { type: Ftype3.NF3SOCK | Ftype3.NF3FIFO; pipe_attributes: Sattr3 }
  | { type: Ftype3.NF3REG | Ftype3.NF3DIR | Ftype3.NF3LNK };

export interface MKNOD3args {
  where: Diropargs3;
  what: Mknoddata3;
}
export type MKNOD3res = Diropres3;

export const MKNOD: Nfs3Procedure<MKNOD3args, MKNOD3res> = {
  proc: 11,
  name: 'MKNOD',
  modifying: true,
  nonIdempotent: true,
  decodeArgs(r) {
    const where = readDiropargs3(r);
    const type = r.enum();
    let what: Mknoddata3;
    switch (type) {
      case Ftype3.NF3CHR:
      case Ftype3.NF3BLK:
        what = { type, dev_attributes: readSattr3(r), spec: { specdata1: r.uint(), specdata2: r.uint() } };
        break;
      case Ftype3.NF3SOCK:
      case Ftype3.NF3FIFO:
        what = { type, pipe_attributes: readSattr3(r) };
        break;
      case Ftype3.NF3REG:
      case Ftype3.NF3DIR:
      case Ftype3.NF3LNK:
        what = { type };
        break;
      default:
        throw new XdrError(`bad ftype3 ${type}`);
    }
    return { where, what };
  },
  encodeArgs(w, a) {
    writeDiropargs3(w, a.where);
    const what = a.what;
    w.enum(what.type);
    if ('spec' in what) {
      writeSattr3(w, what.dev_attributes);
      w.uint(what.spec.specdata1);
      w.uint(what.spec.specdata2);
    } else if ('pipe_attributes' in what) writeSattr3(w, what.pipe_attributes);
  },
  encodeRes: writeDiropres3,
  decodeRes: readDiropres3,
  handles: (a) => [a.where.dir],
  async run(ctx, a) {
    const what = a.what;
    if (!('spec' in what) && !('pipe_attributes' in what)) throw new NfsError(NfsStat3.NFS3ERR_BADTYPE);
    const attrs = setAttrsFromSattr3('spec' in what ? what.dev_attributes : what.pipe_attributes);
    const { owner } = await prepareCreate(ctx, a.where.name, attrs);
    const rdev = 'spec' in what ? { major: what.spec.specdata1, minor: what.spec.specdata2 } : { major: 0, minor: 0 };
    if ('spec' in what && ctx.user.uid !== 0) throw new NfsError(NfsStat3.NFS3ERR_PERM, 'device nodes need root');
    const type = what.type as number as FileType.BLK | FileType.CHR | FileType.SOCK | FileType.FIFO;
    const toRes = (r: NewNode): MKNOD3res => diropres3Ok(ctx, r);
    return ctx.keptRes(toRes, await ctx.fs.mknod(ctx.file, a.where.name, type, rdev, attrs, owner, ctx.keep(toRes)));
  },
  fail: diropres3Fail,
};
