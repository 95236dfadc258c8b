import { XdrError } from './xdr-error';

/**
 * XDR decoder over one Buffer (RFC 4506).
 *
 * Invariants: `offset` only moves forward and never past `end`; every length read from the
 * peer is checked against the bytes that remain (and the caller's cap) before anything is
 * sliced, so arbitrary input gives a value or an XdrError, never an unbounded allocation.
 * Opaque and string reads return views into the input (no copy): callers that keep them past
 * the life of the input buffer copy them.
 */
export class XdrReader {
  offset: number;
  readonly end: number;
  /** Made on the first hyper: DataView.getBig(U)int64 is much faster than Buffer's readers. */
  private view: DataView | undefined;

  constructor(
    readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.offset = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(n: number): number {
    const at = this.offset;
    if (n > this.end - at) throw new XdrError(`short input: need ${n} bytes at ${at}, have ${this.end - at}`);
    this.offset = at + n;
    return at;
  }

  /** RFC 4506 §4.1 */
  int(): number {
    return this.buf.readInt32BE(this.need(4));
  }

  /** RFC 4506 §4.2 */
  uint(): number {
    return this.buf.readUInt32BE(this.need(4));
  }

  /** RFC 4506 §4.3: an enum is an int; the caller checks membership. */
  enum(): number {
    return this.int();
  }

  /** RFC 4506 §4.4: anything other than 0 or 1 is malformed. */
  bool(): boolean {
    const v = this.uint();
    if (v > 1) throw new XdrError(`bad boolean ${v}`);
    return v === 1;
  }

  /** RFC 4506 §4.5 */
  hyper(): bigint {
    const at = this.need(8);
    return (this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length)).getBigInt64(at, false);
  }

  /** RFC 4506 §4.5 */
  uhyper(): bigint {
    const at = this.need(8);
    return (this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length)).getBigUint64(at, false);
  }

  /** An unsigned hyper that must fit a JS number exactly (offsets into our own buffers). */
  uhyperNumber(): number {
    const at = this.need(8);
    const hi = this.buf.readUInt32BE(at);
    const lo = this.buf.readUInt32BE(at + 4);
    if (hi > 0x1fffff) throw new XdrError(`value too large: ${hi}:${lo}`);
    return hi * 0x1_0000_0000 + lo;
  }

  /** RFC 4506 §4.6, §4.7 */
  float(): number {
    return this.buf.readFloatBE(this.need(4));
  }

  double(): number {
    return this.buf.readDoubleBE(this.need(8));
  }

  /** RFC 4506 §4.9: fixed-length opaque, padded to 4 bytes. Returns a view. */
  fixedOpaque(n: number): Buffer {
    const padded = (n + 3) & ~3;
    const at = this.need(padded);
    return this.buf.subarray(at, at + n);
  }

  /** Steps over a fixed-length opaque without making a view of it (a verifier we ignore). */
  skipFixedOpaque(n: number): void {
    this.need((n + 3) & ~3);
  }

  /** RFC 4506 §4.10: variable-length opaque with a maximum. Returns a view. */
  opaque(maxBytes = 0xffffffff): Buffer {
    const n = this.uint();
    // The length comes from the peer, so it is checked before we slice anything.
    if (n > maxBytes) throw new XdrError(`opaque length ${n} over limit ${maxBytes}`);
    if (n > this.remaining) throw new XdrError(`opaque length ${n} beyond input (${this.remaining} left)`);
    return this.fixedOpaque(n);
  }

  /** RFC 4506 §4.11: decoded as UTF-8; invalid sequences are replaced by the decoder. */
  string(maxBytes = 0xffffffff): string {
    return this.opaque(maxBytes).toString('utf8');
  }

  /** RFC 4506 §4.19: optional-data is a bool followed by the value when true. */
  optional<T>(read: (r: XdrReader) => T): T | undefined {
    return this.bool() ? read(this) : undefined;
  }

  /** RFC 4506 §4.13: variable-length array with a maximum count. */
  array<T>(read: (r: XdrReader) => T, maxCount = 0xffffffff): T[] {
    const n = this.uint();
    if (n > maxCount) throw new XdrError(`array count ${n} over limit ${maxCount}`);
    // Every element takes at least 4 bytes on the wire: a count beyond that cannot be honest.
    if (n > this.remaining / 4) throw new XdrError(`array count ${n} beyond input`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }

  /** Throws unless every byte was consumed (RPC arguments must not carry trailing junk). */
  expectEnd(): void {
    if (this.offset !== this.end) throw new XdrError(`${this.end - this.offset} trailing bytes`);
  }
}
