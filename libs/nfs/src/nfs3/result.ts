/**
 * The shape every NFSv3 result shares (RFC 1813 §3.3: a union on nfsstat3 with a resok and a
 * resfail arm), the engine-to-wire conversions, and the error a handler throws to fail a call.
 */
import type { Attr, Timespec, Wcc, WccAttr } from '@ferry/fs';
import type { XdrReader, XdrWriter } from '@ferry/xdr';
import { type Fattr3, type Nfstime3, NfsStat3, type NfsErrStat3, type Wcc_data, type WccAttr3 } from './xdr-types';

export type Res<Ok, Fail> = { status: NfsStat3.NFS3_OK; resok: Ok } | { status: NfsErrStat3; resfail: Fail };

export function ok<Ok>(resok: Ok): { status: NfsStat3.NFS3_OK; resok: Ok } {
  return { status: NfsStat3.NFS3_OK, resok };
}

export function fail<Fail>(status: NfsStat3, resfail: Fail): { status: NfsErrStat3; resfail: Fail } {
  if (status === NfsStat3.NFS3_OK) throw new Error('fail() with NFS3_OK');
  return { status, resfail };
}

export function writeRes<Ok, Fail>(
  w: XdrWriter,
  r: Res<Ok, Fail>,
  writeOk: (w: XdrWriter, v: Ok) => void,
  writeFail: (w: XdrWriter, v: Fail) => void,
): void {
  w.enum(r.status);
  if (r.status === NfsStat3.NFS3_OK) writeOk(w, r.resok);
  else writeFail(w, r.resfail);
}

export function readRes<Ok, Fail>(r: XdrReader, readOk: (r: XdrReader) => Ok, readFail: (r: XdrReader) => Fail): Res<Ok, Fail> {
  const status = r.enum() as NfsStat3;
  if (status === NfsStat3.NFS3_OK) return { status, resok: readOk(r) };
  return { status, resfail: readFail(r) };
}

/**
 * Thrown by a handler to answer a status of its own deciding (permission, name checks...).
 * It is an expected outcome, not a bug, and negative answers are frequent (LOOKUP of absent
 * names): no stack trace is captured, which is most of the cost of an Error.
 */
export class NfsError extends Error {
  readonly status: NfsStat3;

  constructor(status: NfsStat3, message?: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message ?? NfsStat3[status]);
    Error.stackTraceLimit = limit;
    this.status = status;
    this.name = 'NfsError';
  }
}

export function nfstime3(t: Timespec): Nfstime3 {
  return { seconds: t.sec, nseconds: t.nsec };
}

export function fattr3(a: Attr): Fattr3 {
  return {
    type: a.type as number,
    mode: a.mode & 0o7777,
    nlink: a.nlink,
    uid: a.uid,
    gid: a.gid,
    size: a.size,
    used: a.used,
    rdev: { specdata1: a.rdevMajor, specdata2: a.rdevMinor },
    fsid: a.fsid,
    fileid: a.ino,
    atime: nfstime3(a.atime),
    mtime: nfstime3(a.mtime),
    ctime: nfstime3(a.ctime),
  };
}

export function postOp(a: Attr | undefined): Fattr3 | undefined {
  return a === undefined ? undefined : fattr3(a);
}

export function wccAttr3(a: WccAttr): WccAttr3 {
  return { size: a.size, mtime: nfstime3(a.mtime), ctime: nfstime3(a.ctime) };
}

export function wccData(w: Wcc | undefined): Wcc_data {
  return {
    before: w?.before === undefined ? undefined : wccAttr3(w.before),
    after: w?.after === undefined ? undefined : fattr3(w.after),
  };
}
