/**
 * NFSv3 file handles (layout in libs/nfs/FORMAT.md).
 *
 * Invariants: a handle is exactly FH_LENGTH bytes; the fsid sits at FH_FSID_OFFSET in every
 * version so the load director can route without a key; the MAC covers every byte before it,
 * so a handle we did not mint (guessed ino, edited fsid, truncated) is refused before the
 * engine sees it. The verified-handle cache only ever holds handles whose MAC checked or that
 * this codec minted, and a hit must equal such a handle in every byte, so a hit is as good as
 * a verification; the
 * minted-handle cache holds handles this codec made, and a hit must encode the same fsid, inode
 * and generation, so it is the handle we would mint.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { type FileRef, type InoKey, inoKey } from '@ferry/fs';

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

interface VerifiedHandle {
  bytes: Buffer;
  decoded: DecodedHandle;
}

interface MintedHandle {
  fsid: bigint;
  generation: number;
  fh: Buffer;
}

/**
 * The cache slot of a handle: 30 bits of its MAC (uniformly spread, and a small integer makes a
 * cheap Map key, where a string of the bytes cost an allocation and a hash per call). Handles
 * that share a slot replace each other; that costs a MAC computation, never a wrong answer.
 */
function slotOf(fh: Buffer): number {
  return fh.readUInt32BE(FH_MAC_OFFSET) & 0x3fff_ffff;
}

export class FileHandleCodec {
  private readonly key: Buffer;
  /** Recently verified handles by slotOf(); insertion order = age. */
  private readonly verified = new Map<number, VerifiedHandle>();
  /** Recently minted handles by inode number (fsid and generation checked on a hit); insertion order = age. */
  private readonly minted = new Map<InoKey, MintedHandle>();

  constructor(
    key: Buffer,
    /**
     * Per cache (minted and verified). An HMAC costs ~3 µs, and a READDIRPLUS reply mints ~125
     * handles: with a cache smaller than the set of files a client walks (FIFO eviction), a
     * sequential walk misses on every entry. 65536 matches the engine's inode cache; about
     * 200 bytes per entry.
     */
    private readonly cacheEntries = 65536,
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
    const key = inoKey(file.ino);
    const known = this.minted.get(key);
    if (known !== undefined && known.fsid === fsid && known.generation === file.generation) return known.fh;
    const fh = this.mint(fsid, file);
    if (known !== undefined) this.minted.delete(key);
    else if (this.minted.size >= this.cacheEntries) {
      const oldest = this.minted.keys().next();
      if (oldest.done !== true) this.minted.delete(oldest.value);
    }
    this.minted.set(key, { fsid, generation: file.generation, fh });
    // A handle we just minted comes back at once (the WRITE after a CREATE, the GETATTR after a
    // LOOKUP): it is as good as verified, so its first use skips the MAC as well.
    this.remember(fh, { fsid, file: { ino: file.ino, generation: file.generation } });
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
    const slot = slotOf(fh);
    const hit = this.verified.get(slot);
    if (hit !== undefined && hit.bytes.equals(fh)) return hit.decoded;
    const expected = this.mac(fh.subarray(0, FH_MAC_OFFSET));
    if (!timingSafeEqual(expected, fh.subarray(FH_MAC_OFFSET, FH_LENGTH))) return 'bad';
    const decoded: DecodedHandle = {
      fsid: fh.readBigUInt64BE(FH_FSID_OFFSET),
      file: { ino: fh.readBigUInt64BE(FH_INO_OFFSET), generation: fh.readUInt32BE(FH_GENERATION_OFFSET) },
    };
    // A copy: `fh` is a view into the call's message.
    this.remember(Buffer.from(fh), decoded);
    return decoded;
  }

  /** Adds a handle whose MAC is right (checked, or ours) to the verified cache; `bytes` is kept. */
  private remember(bytes: Buffer, decoded: DecodedHandle): void {
    const slot = slotOf(bytes);
    if (this.verified.has(slot)) this.verified.delete(slot);
    else if (this.verified.size >= this.cacheEntries) {
      const oldest = this.verified.keys().next();
      if (oldest.done !== true) this.verified.delete(oldest.value);
    }
    this.verified.set(slot, { bytes, decoded });
  }
}
