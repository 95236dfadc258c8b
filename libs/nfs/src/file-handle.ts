/**
 * NFSv3 file handles (layout in libs/nfs/FORMAT.md).
 *
 * Invariants: a handle is exactly FH_LENGTH bytes; the fsid sits at FH_FSID_OFFSET in every
 * version so the load director can route without a key; the MAC covers every byte before it,
 * so a handle we did not mint (guessed ino, edited fsid, truncated) is refused before the
 * engine sees it. The verified-handle cache only ever holds handles whose MAC checked, keyed by
 * their full bytes, so a hit is as good as a verification; the minted-handle cache holds
 * handles this codec made, keyed by what they encode, so a hit is the handle we would mint.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FileRef } from '@ferry/fs';

export const FH_VERSION = 1;
export const FH_VERSION_OFFSET = 0;
export const FH_FSID_OFFSET = 4;
export const FH_INO_OFFSET = 12;
export const FH_GENERATION_OFFSET = 20;
export const FH_MAC_OFFSET = 24;
export const FH_MAC_BYTES = 16;
export const FH_LENGTH = FH_MAC_OFFSET + FH_MAC_BYTES; // 40
export const HANDLE_KEY_BYTES = 32;

export interface DecodedHandle {
  fsid: bigint;
  file: FileRef;
}

export type HandleDecodeResult = DecodedHandle | 'bad';

/** The fsid of a handle without verifying it (for routing only: never trust it for access). */
export function peekHandleFsid(fh: Buffer): bigint | undefined {
  if (fh.length !== FH_LENGTH || fh[FH_VERSION_OFFSET] !== FH_VERSION) return undefined;
  return fh.readBigUInt64BE(FH_FSID_OFFSET);
}

export class FileHandleCodec {
  private readonly key: Buffer;
  /** Recently verified handles (latin1 string of the bytes) → decoded; insertion order = age. */
  private readonly verified = new Map<string, DecodedHandle>();
  /** Recently minted handles by "fsid:ino:generation"; insertion order = age. */
  private readonly minted = new Map<string, Buffer>();

  constructor(
    key: Buffer,
    private readonly cacheEntries = 8192,
  ) {
    if (key.length !== HANDLE_KEY_BYTES) throw new Error(`handle key must be ${HANDLE_KEY_BYTES} bytes, got ${key.length}`);
    this.key = Buffer.from(key);
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, FH_MAC_BYTES);
  }

  /** The handle of `file`; shared with later callers, so it must not be modified. */
  encode(fsid: bigint, file: FileRef): Buffer {
    // LOOKUP and READDIRPLUS mint the same handles over and over; the MAC is most of the cost.
    // Handles are immutable once minted (callers only copy them into replies).
    const key = `${fsid}:${file.ino}:${file.generation}`;
    const known = this.minted.get(key);
    if (known !== undefined) return known;
    const fh = this.mint(fsid, file);
    if (this.minted.size >= this.cacheEntries) {
      const oldest = this.minted.keys().next();
      if (oldest.done !== true) this.minted.delete(oldest.value);
    }
    this.minted.set(key, fh);
    return fh;
  }

  private mint(fsid: bigint, file: FileRef): Buffer {
    const fh = Buffer.alloc(FH_LENGTH);
    fh[FH_VERSION_OFFSET] = FH_VERSION;
    fh.writeBigUInt64BE(BigInt.asUintN(64, fsid), FH_FSID_OFFSET);
    fh.writeBigUInt64BE(BigInt.asUintN(64, file.ino), FH_INO_OFFSET);
    fh.writeUInt32BE(file.generation >>> 0, FH_GENERATION_OFFSET);
    this.mac(fh.subarray(0, FH_MAC_OFFSET)).copy(fh, FH_MAC_OFFSET);
    return fh;
  }

  /** Verifies length, version and MAC; 'bad' answers NFS3ERR_BADHANDLE. */
  decode(fh: Buffer): HandleDecodeResult {
    if (fh.length !== FH_LENGTH || fh[FH_VERSION_OFFSET] !== FH_VERSION) return 'bad';
    const cacheKey = fh.toString('latin1');
    const hit = this.verified.get(cacheKey);
    if (hit !== undefined) return hit;
    const expected = this.mac(fh.subarray(0, FH_MAC_OFFSET));
    if (!timingSafeEqual(expected, fh.subarray(FH_MAC_OFFSET, FH_LENGTH))) return 'bad';
    const decoded: DecodedHandle = {
      fsid: fh.readBigUInt64BE(FH_FSID_OFFSET),
      file: { ino: fh.readBigUInt64BE(FH_INO_OFFSET), generation: fh.readUInt32BE(FH_GENERATION_OFFSET) },
    };
    if (this.verified.size >= this.cacheEntries) {
      const oldest = this.verified.keys().next();
      if (oldest.done !== true) this.verified.delete(oldest.value);
    }
    this.verified.set(cacheKey, decoded);
    return decoded;
  }
}
