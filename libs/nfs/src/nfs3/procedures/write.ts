/**
 * RFC 1813 §3.3.7 WRITE. The data length must equal count and both are capped at wtmax
 * (maxIoBytes): a peer that breaks either sent malformed arguments (GARBAGE_ARGS). The reply's
 * verifier is the engine's, so a client re-sends UNSTABLE data after a restart or failover.
 */
import { FileType, type StableHow } from '@ferry/fs';
import { XdrError } from '@ferry/xdr';
import { mayWriteData } from '../../permission';
import type { Nfs3Procedure } from '../procedure';
import { fail, NfsError, ok, readRes, type Res, wccData, writeRes } from '../result';
import {
  NfsStat3,
  readNfsFh3,
  readVerf8,
  readWccData,
  StableHow3,
  type Wcc_data,
  writeNfsFh3,
  writeVerf8,
  writeWccData,
} from '../xdr-types';

export interface WRITE3args {
  file: Buffer;
  offset: bigint;
  count: number;
  stable: StableHow3;
  data: Buffer;
}
export interface WRITE3resok {
  file_wcc: Wcc_data;
  count: number;
  committed: StableHow3;
  verf: Buffer;
}
export interface WRITE3resfail {
  file_wcc: Wcc_data;
}
export type WRITE3res = Res<WRITE3resok, WRITE3resfail>;

function readStableHow(r: { enum(): number }): StableHow3 {
  const v = r.enum();
  if (v < 0 || v > 2) throw new XdrError(`bad stable_how ${v}`);
  return v;
}

/** The setuid bit, and setgid when the group may execute (setgid without it is mandatory locking). */
export function privilegeBitsToKill(mode: number): number {
  let kill = mode & 0o4000;
  if ((mode & 0o2010) === 0o2010) kill |= 0o2000;
  return kill;
}

export const WRITE: Nfs3Procedure<WRITE3args, WRITE3res> = {
  proc: 7,
  name: 'WRITE',
  modifying: true,
  // Re-running a WRITE stores the same bytes at the same offset; see drc.ts for why WRITE stays
  // out of the duplicate request cache.
  nonIdempotent: false,
  decodeArgs(r, limits) {
    const file = readNfsFh3(r);
    const offset = r.uhyper();
    const count = r.uint();
    const stable = readStableHow(r);
    if (count > limits.maxIoBytes) throw new XdrError(`WRITE count ${count} over wtmax ${limits.maxIoBytes}`);
    const data = r.opaque(limits.maxIoBytes);
    if (data.length !== count) throw new XdrError(`WRITE count ${count} but ${data.length} data bytes`);
    return { file, offset, count, stable, data };
  },
  encodeArgs(w, a) {
    writeNfsFh3(w, a.file);
    w.uhyper(a.offset);
    w.uint(a.count);
    w.enum(a.stable);
    w.opaque(a.data);
  },
  encodeRes: (w, res) =>
    writeRes(
      w,
      res,
      (x, v) => {
        writeWccData(x, v.file_wcc);
        x.uint(v.count);
        x.enum(v.committed);
        writeVerf8(x, v.verf);
      },
      (x, v) => writeWccData(x, v.file_wcc),
    ),
  decodeRes: (r) =>
    readRes(
      r,
      (x) => ({ file_wcc: readWccData(x), count: x.uint(), committed: readStableHow(x), verf: readVerf8(x) }),
      (x) => ({ file_wcc: readWccData(x) }),
    ),
  handles: (a) => [a.file],
  async run(ctx, a) {
    const attr = await ctx.attr(0);
    if (attr.type === FileType.DIR) throw new NfsError(NfsStat3.NFS3ERR_ISDIR);
    if (attr.type !== FileType.REG) throw new NfsError(NfsStat3.NFS3ERR_INVAL);
    if (!mayWriteData(ctx.user, attr)) throw new NfsError(NfsStat3.NFS3ERR_ACCES);
    const r = await ctx.fs.write(ctx.file, a.offset, a.data, a.stable as number as StableHow);
    ctx.stats?.bytesWritten(r.count);
    let wcc = r.wcc;
    const kill = privilegeBitsToKill(attr.mode);
    if (kill !== 0 && ctx.user.uid !== 0) {
      // As the kernel's file_remove_privs: a write by anyone but root drops setuid, and setgid
      // when group-executable, so a modified program never keeps its owner's powers.
      const after = await ctx.fs.setattr(ctx.file, { mode: attr.mode & ~kill });
      wcc = { before: r.wcc.before, after: after.after };
    }
    return ok({ file_wcc: wccData(wcc), count: r.count, committed: r.committed as number as StableHow3, verf: ctx.writeVerifier });
  },
  fail: (status, info) => fail(status, { file_wcc: info.wcc }),
};
