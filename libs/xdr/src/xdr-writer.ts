/**
 * XDR encoder into one growable Buffer (RFC 4506).
 *
 * Invariants: `length` bytes of `buf` are the encoding so far; every item is a multiple of
 * four bytes and padding bytes are zero. Growth doubles, so encoding is amortised O(n);
 * `reserve` lets a caller that knows the size (a READ reply) avoid any regrowth, and
 * `alloc` hands out a writable window so data can be read straight into the reply.
 */

/**
 * Hypers go through one shared 8-byte DataView: DataView.setBig(U)int64 is several times
 * faster than Buffer.writeBig(U)Int64BE (every fattr3 carries four hypers), and a shared one
 * costs no DataView per writer. JavaScript runs one call at a time, so sharing is safe.
 */
const SCRATCH = new DataView(new ArrayBuffer(8));
const SCRATCH_BYTES = new Uint8Array(SCRATCH.buffer);
const MAX_U64 = 0xffff_ffff_ffff_ffffn;
const MIN_I64 = -0x8000_0000_0000_0000n;
const MAX_I64 = 0x7fff_ffff_ffff_ffffn;

export class XdrWriter {
  buf: Buffer;
  length = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  reserve(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  int(v: number): this {
    // Buffer.writeInt32BE's check, kept: out of range throws rather than wraps.
    if (v > 0x7fff_ffff || v < -0x8000_0000) throw new RangeError(`int out of range: ${v}`);
    return this.word(v);
  }

  uint(v: number): this {
    return this.word(v >>> 0);
  }

  /** Four bytes, big-endian, stored directly (the hot path of every encoding). */
  private word(v: number): this {
    this.reserve(4);
    const b = this.buf;
    const at = this.length;
    b[at] = v >>> 24;
    b[at + 1] = v >>> 16;
    b[at + 2] = v >>> 8;
    b[at + 3] = v;
    this.length = at + 4;
    return this;
  }

  /** Eight bytes from SCRATCH, where a hyper was just set (see below). */
  private scratchWord64(): this {
    this.reserve(8);
    const b = this.buf;
    const at = this.length;
    for (let i = 0; i < 8; i++) b[at + i] = SCRATCH_BYTES[i]!;
    this.length = at + 8;
    return this;
  }

  enum(v: number): this {
    return this.int(v);
  }

  bool(v: boolean): this {
    return this.uint(v ? 1 : 0);
  }

  hyper(v: bigint): this {
    // DataView wraps out-of-range values silently; Buffer threw, and so do we.
    if (v < MIN_I64 || v > MAX_I64) throw new RangeError(`hyper out of range: ${v}`);
    SCRATCH.setBigInt64(0, v, false);
    return this.scratchWord64();
  }

  uhyper(v: bigint): this {
    if (v < 0n || v > MAX_U64) throw new RangeError(`unsigned hyper out of range: ${v}`);
    SCRATCH.setBigUint64(0, v, false);
    return this.scratchWord64();
  }

  /** An unsigned hyper from a non-negative safe integer, without a bigint on the hot path. */
  uhyperNumber(v: number): this {
    this.reserve(8);
    this.buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), this.length);
    this.buf.writeUInt32BE(v >>> 0, this.length + 4);
    this.length += 8;
    return this;
  }

  float(v: number): this {
    this.reserve(4);
    this.buf.writeFloatBE(v, this.length);
    this.length += 4;
    return this;
  }

  double(v: number): this {
    this.reserve(8);
    this.buf.writeDoubleBE(v, this.length);
    this.length += 8;
    return this;
  }

  /** RFC 4506 §4.9: the bytes, then zero padding to a multiple of four. */
  fixedOpaque(data: Uint8Array): this {
    const n = data.length;
    const padded = (n + 3) & ~3;
    this.reserve(padded);
    this.buf.set(data, this.length);
    this.buf.fill(0, this.length + n, this.length + padded);
    this.length += padded;
    return this;
  }

  opaque(data: Uint8Array): this {
    this.uint(data.length);
    return this.fixedOpaque(data);
  }

  string(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    const padded = (n + 3) & ~3;
    this.reserve(4 + padded);
    this.buf.writeUInt32BE(n, this.length);
    this.buf.write(s, this.length + 4, 'utf8');
    this.buf.fill(0, this.length + 4 + n, this.length + 4 + padded);
    this.length += 4 + padded;
    return this;
  }

  optional<T>(v: T | undefined | null, write: (w: XdrWriter, v: T) => void): this {
    if (v === undefined || v === null) return this.bool(false);
    this.bool(true);
    write(this, v);
    return this;
  }

  array<T>(items: readonly T[], write: (w: XdrWriter, v: T) => void): this {
    this.uint(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  /**
   * Reserve a variable-length opaque of `n` bytes and return the window for its data, so a
   * caller can fill it in place (e.g. read file data straight into a READ reply).
   */
  allocOpaque(n: number): Buffer {
    const padded = (n + 3) & ~3;
    this.reserve(4 + padded);
    this.buf.writeUInt32BE(n, this.length);
    const at = this.length + 4;
    this.buf.fill(0, at + n, at + padded);
    this.length += 4 + padded;
    return this.buf.subarray(at, at + n);
  }

  /** Shrink an opaque made by `allocOpaque` that turned out shorter (a short READ). */
  truncateOpaque(window: Buffer, actual: number): void {
    const at = window.byteOffset - this.buf.byteOffset;
    const oldPadded = (window.length + 3) & ~3;
    const padded = (actual + 3) & ~3;
    if (this.length !== at + oldPadded) throw new Error('truncateOpaque: not the last item');
    this.buf.writeUInt32BE(actual, at - 4);
    this.buf.fill(0, at + actual, at + padded);
    this.length = at + padded;
  }

  /** Overwrite a uint written earlier (e.g. a record mark or a count known only later). */
  patchUint(at: number, v: number): void {
    this.buf.writeUInt32BE(v >>> 0, at);
  }

  /** The encoding so far, as a view (no copy). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}
