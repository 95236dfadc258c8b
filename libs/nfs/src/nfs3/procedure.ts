/**
 * What one NFSv3 procedure is: its codecs (both directions, so tests and tools can speak it),
 * the handles it names, its handler over the engine, and how it answers a failure.
 *
 * The service (nfs-service.ts) does everything common around `run`: handle verification,
 * export and client checks, squashing, read-only refusal, the duplicate request cache, and
 * turning thrown FsError/NfsError into `fail(status, info)` with the wcc/post-op data.
 */
import type { Attr, FileRef, FileSystem, ReplyBuilder } from '@ferry/fs';
import type { XdrReader, XdrWriter } from '@ferry/xdr';
import type { User } from '../exports';
import { NfsError } from './result';
import { NFS3_MAXNAMLEN, NfsStat3, type PostOpAttr, type Wcc_data } from './xdr-types';

export interface NfsStats {
  bytesRead(n: number): void;
  bytesWritten(n: number): void;
}

/** Limits a decoder needs beyond the RFC's fixed ones. */
export interface DecodeLimits {
  maxIoBytes: number;
}

/** What a procedure runs with: everything already verified by the service. */
export interface NfsCallContext {
  readonly fs: FileSystem;
  readonly fsid: bigint;
  /** The object of the first handle in the arguments. */
  readonly file: FileRef;
  /** The object of the second handle (RENAME target dir, LINK dir), same filesystem. */
  readonly file2: FileRef | undefined;
  readonly user: User;
  readonly readOnly: boolean;
  readonly maxIoBytes: number;
  readonly stats: NfsStats | undefined;
  /** RFC 1813 §3.3.7 writeverf3 of this filesystem as served now (new at every add). */
  readonly writeVerifier: Buffer;
  /** Mint the handle of a file of this filesystem. */
  handle(file: FileRef): Buffer;
  /**
   * READDIRPLUS's name_attributes and name_handle of the file `attr` describes, encoded
   * (entry-plus.ts); shared, never to be changed.
   */
  entryPlus(attr: Attr): Buffer;
  /** getattr of the first (0) or second (1) object, cached for the call. */
  attr(which?: 0 | 1): Promise<Attr>;
  /** Record attributes learned on the way (lookup's dirAttr...) for failure replies. */
  remember(which: 0 | 1, attr: Attr): void;
  /**
   * For a non-idempotent call: what to pass as the engine operation's `answer`, so the reply
   * (`toRes` of the engine's result, which must be exactly what `run` then returns) is written
   * in the transaction that makes the change. Undefined when the call keeps no reply.
   */
  keep<E>(toRes: (result: E) => unknown): ReplyBuilder<E> | undefined;
  /**
   * `toRes(result)` for the engine result a `keep` builder was given: the same object the kept
   * reply was encoded from, so the service sends those bytes instead of encoding them again.
   * For any other result, a fresh `toRes(result)`.
   */
  keptRes<E, R>(toRes: (result: E) => R, result: E): R;
}

/** What a failure reply can carry; the service fills what the engine and the call learned. */
export interface FailInfo {
  wcc: Wcc_data; // of the first object
  wcc2: Wcc_data; // of the second object
  attr: PostOpAttr; // post-op attributes of the first object
}

export interface Nfs3Procedure<A, R> {
  readonly proc: number;
  readonly name: string;
  /** Changes the filesystem: NFS3ERR_ROFS on a read-only export. */
  readonly modifying: boolean;
  /** Not safe to run twice: answered from the duplicate request cache on retransmit. */
  readonly nonIdempotent: boolean;
  decodeArgs(r: XdrReader, limits: DecodeLimits): A;
  encodeArgs(w: XdrWriter, a: A): void;
  encodeRes(w: XdrWriter, r: R): void;
  decodeRes(r: XdrReader): R;
  /** The handles the arguments name, first the object the failure wcc/attrs describe. */
  handles(a: A): readonly Buffer[];
  run(ctx: NfsCallContext, a: A): Promise<R>;
  fail(status: NfsStat3, info: FailInfo): R;
}

/** RFC 1813 §3.3.3: a component name, never a path; NAMETOOLONG beyond what PATHCONF says. */
export function checkName(name: string): void {
  if (name.length === 0 || name.includes('/') || name.includes('\0')) throw new NfsError(NfsStat3.NFS3ERR_ACCES, 'bad name');
  if (Buffer.byteLength(name, 'utf8') > NFS3_MAXNAMLEN) throw new NfsError(NfsStat3.NFS3ERR_NAMETOOLONG);
}

/** A name to create: "." and ".." always exist. */
export function checkNewName(name: string): void {
  checkName(name);
  if (name === '.' || name === '..') throw new NfsError(NfsStat3.NFS3ERR_EXIST);
}

/** A name to remove or rename away: "." and ".." cannot be. */
export function checkOldName(name: string): void {
  checkName(name);
  if (name === '.' || name === '..') throw new NfsError(NfsStat3.NFS3ERR_INVAL);
}
