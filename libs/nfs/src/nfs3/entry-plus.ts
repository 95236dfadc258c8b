/**
 * The per-entry tail of a READDIRPLUS reply, encoded once per attribute version.
 *
 * Each entryplus3 ends with name_attributes (post_op_attr) and name_handle (post_op_fh3). For a
 * file whose attributes are known these are 136 bytes that depend only on its attributes and
 * the handle key. A client lists the same directories again and again, and building them (the
 * fattr3 object, the handle lookup, six 64-bit stores) was about half of READDIRPLUS's CPU.
 *
 * The engine never changes an Attr object: a change makes a new one (api.ts `Attr`). So the
 * encoding is cached by the Attr object itself, in a WeakMap: a changed file has a new object
 * and misses, and an entry goes when the engine drops the object (its inode cache bounds them,
 * ~300 bytes per entry at most).
 */
import type { Attr } from '@ferry/fs';
import { FH_FSID_OFFSET, FH_LENGTH, type FileHandleCodec } from '../file-handle';
import { fattr3 } from './result';

/** post_op_attr TRUE + fattr3 + post_op_fh3 TRUE + length + handle. */
export const PLUS_KNOWN_BYTES = 4 + 84 + 4 + 4 + FH_LENGTH;
const PLUS_HANDLE_OFFSET = 4 + 84 + 4 + 4;
/** post_op_attr FALSE + post_op_fh3 FALSE: an entry whose attributes are not known. */
export const PLUS_UNKNOWN: Buffer = Buffer.alloc(8);

/**
 * Writes the fattr3 of `a` (84 bytes) at `o`: the bytes writeFattr3(fattr3(a)) writes
 * (xdr-types.ts), without building the object. Checked against it by entry-plus.test.ts.
 */
export function encodeFattr3At(dv: DataView, o: number, a: Attr): void {
  const f = fattr3(a); // no allocation is saved by inlining its field mapping; keep one truth
  dv.setInt32(o, f.type);
  dv.setUint32(o + 4, f.mode >>> 0);
  dv.setUint32(o + 8, f.nlink >>> 0);
  dv.setUint32(o + 12, f.uid >>> 0);
  dv.setUint32(o + 16, f.gid >>> 0);
  dv.setBigUint64(o + 20, f.size);
  dv.setBigUint64(o + 28, f.used);
  dv.setUint32(o + 36, f.rdev.specdata1 >>> 0);
  dv.setUint32(o + 40, f.rdev.specdata2 >>> 0);
  dv.setBigUint64(o + 44, f.fsid);
  dv.setBigUint64(o + 52, f.fileid);
  dv.setUint32(o + 60, f.atime.seconds >>> 0);
  dv.setUint32(o + 64, f.atime.nseconds >>> 0);
  dv.setUint32(o + 68, f.mtime.seconds >>> 0);
  dv.setUint32(o + 72, f.mtime.nseconds >>> 0);
  dv.setUint32(o + 76, f.ctime.seconds >>> 0);
  dv.setUint32(o + 80, f.ctime.nseconds >>> 0);
}

export class EntryPlusCache {
  private readonly encoded = new WeakMap<Attr, Buffer>();

  constructor(private readonly codec: FileHandleCodec) {}

  /**
   * name_attributes and name_handle of the file `a` describes, in filesystem `fsid` (the handle
   * is minted for it). Shared between replies: callers copy it, never change it.
   */
  of(fsid: bigint, a: Attr): Buffer {
    const hit = this.encoded.get(a);
    if (hit !== undefined && hit.readBigUInt64BE(PLUS_HANDLE_OFFSET + FH_FSID_OFFSET) === fsid) return hit;
    const fh = this.codec.encode(fsid, { ino: a.ino, generation: a.generation });
    const b = Buffer.allocUnsafe(PLUS_KNOWN_BYTES);
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    dv.setUint32(0, 1);
    encodeFattr3At(dv, 4, a);
    dv.setUint32(88, 1);
    dv.setUint32(92, FH_LENGTH);
    b.set(fh, PLUS_HANDLE_OFFSET);
    this.encoded.set(a, b);
    return b;
  }
}
