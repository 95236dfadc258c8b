/**
 * RFC 1813 §3.3.6 READ. The count is capped at rtmax (maxIoBytes) before the engine allocates
 * anything; read permission follows knfsd (owner override, execute implies read).
 */
import { FileType } from '@ferry/fs';
import { writeOpaqueSpliced } from '@ferry/oncrpc';
import { mayReadData } from '../../permission';
import type { Nfs3Procedure } from '../procedure';
import { fail, fattr3, NfsError, ok, readRes, type Res, writeRes } from '../result';
import { NfsStat3, type PostOpAttr, readNfsFh3, readPostOpAttr, writeNfsFh3, writePostOpAttr } from '../xdr-types';

export interface READ3args {
  file: Buffer;
  offset: bigint;
  count: number;
}
export interface READ3resok {
  file_attributes: PostOpAttr;
  count: number;
  eof: boolean;
  data: Buffer;
  /** Not on the wire: the engine's ReadResult.release, called once the reply has been sent. */
  release?: () => void;
}
export interface READ3resfail {
  file_attributes: PostOpAttr;
}
export type READ3res = Res<READ3resok, READ3resfail>;

export const READ: Nfs3Procedure<READ3args, READ3res> = {
  proc: 6,
  name: 'READ',
  modifying: false,
  nonIdempotent: false,
  decodeArgs: (r) => ({ file: readNfsFh3(r), offset: r.uhyper(), count: r.uint() }),
  encodeArgs(w, a) {
    writeNfsFh3(w, a.file);
    w.uhyper(a.offset);
    w.uint(a.count);
  },
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => {
        writePostOpAttr(x, v.file_attributes);
        x.uint(v.count);
        x.bool(v.eof);
        // The data goes to the socket as its own piece, not copied into the reply.
        writeOpaqueSpliced(x, v.data, v.release);
      },
      (x, v) => writePostOpAttr(x, v.file_attributes),
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({ file_attributes: readPostOpAttr(x), count: x.uint(), eof: x.bool(), data: x.opaque() }),
      (x) => ({ file_attributes: readPostOpAttr(x) }),
    ),
  handles: (a) => [a.file],
  async run(ctx, a) {
    const attr = await ctx.attr(0);
    if (attr.type === FileType.DIR) throw new NfsError(NfsStat3.NFS3ERR_ISDIR);
    if (attr.type !== FileType.REG) throw new NfsError(NfsStat3.NFS3ERR_INVAL);
    if (!mayReadData(ctx.user, attr)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
    const count = Math.min(a.count, ctx.maxIoBytes);
    const r = await ctx.fs.read(ctx.file, a.offset, count);
    ctx.stats?.bytesRead(r.data.length);
    return ok({ file_attributes: fattr3(r.attr), count: r.data.length, eof: r.eof, data: r.data, release: r.release });
  },
  fail: (status, info) => fail(status, { file_attributes: info.attr }),
};
