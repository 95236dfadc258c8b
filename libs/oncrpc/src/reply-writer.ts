/**
 * The writer a reply is built in: an XdrWriter that can also splice a caller's buffer into the
 * encoding without copying it (a 1 MiB READ result goes to the socket as its own writev piece).
 *
 * Invariants: the encoding is `buf[0..length)` with each spliced buffer inserted before the
 * byte at its `at` offset, in the order they were spliced (offsets never decrease); the XDR
 * padding of a spliced opaque lives in `buf`, so every piece but the spliced data is ours. A
 * spliced buffer must not change until the reply is sent, which holds for engine read results
 * (each READ gets its own). `truncate` drops spliced buffers past the new end with the bytes.
 * A spliced buffer's `release` runs at most once, and only when no piece of this writer will be
 * read again: after a copy of the encoding (`flat`), or when the server has handed the pieces
 * to the kernel (`ReplyPieces.sent`). A reply never sent never releases (the memory is simply
 * collected).
 */
import { XdrWriter } from '@ferry/xdr';

/** Below this a copy is cheaper than one more writev piece. */
export const SPLICE_MIN_BYTES = 16 * 1024;

interface Splice {
  at: number;
  data: Buffer;
  release: (() => void) | undefined;
}

/** A framed reply as pieces to write in order; `sent`, when set, is to be called once, after
 * the kernel has taken every piece (it releases the spliced buffers). */
export type ReplyPieces = Buffer[] & { sent?: () => void };

const NO_SPLICES: readonly Splice[] = Object.freeze([]);

export class RpcReplyWriter extends XdrWriter {
  /** Made on the first splice: most replies (all but large READs) never splice. */
  private splices: Splice[] | readonly Splice[] = NO_SPLICES;
  /** Total length of the spliced buffers (not counted in `length`). */
  splicedBytes = 0;

  /**
   * RFC 4506 §4.10 variable-length opaque whose data is referenced, not copied. `release` is
   * called when `data` is no longer needed (see the invariants above).
   */
  opaqueSpliced(data: Buffer, release?: () => void): void {
    if (data.length < SPLICE_MIN_BYTES) {
      this.opaque(data);
      release?.(); // copied: nothing refers to it any more
      return;
    }
    this.uint(data.length);
    if (this.splices === NO_SPLICES) this.splices = [];
    (this.splices as Splice[]).push({ at: this.length, data, release });
    this.splicedBytes += data.length;
    const pad = (4 - (data.length & 3)) & 3;
    if (pad !== 0) {
      this.reserve(pad);
      this.buf.fill(0, this.length, this.length + pad);
      this.length += pad;
    }
  }

  /** Whether any buffer was spliced at or after `offset` (a copy of that range would miss it). */
  splicedSince(offset: number): boolean {
    const last = this.splices[this.splices.length - 1];
    return last !== undefined && last.at >= offset;
  }

  /** Cut the encoding back to `length` bytes, forgetting buffers spliced at or after it. */
  truncate(length: number): void {
    this.length = length;
    const splices = this.splices as Splice[];
    while (splices.length > 0 && splices[splices.length - 1]!.at >= length) {
      this.splicedBytes -= splices.pop()!.data.length;
    }
  }

  /** The encoding from `from` to the end as pieces to write in order (views, no copy). */
  pieces(from: number): Buffer[] {
    const out: Buffer[] = [];
    let at = from;
    for (const s of this.splices) {
      if (s.at < from) continue;
      if (s.at > at) out.push(this.buf.subarray(at, s.at));
      out.push(s.data);
      at = s.at;
    }
    if (this.length > at) out.push(this.buf.subarray(at, this.length));
    return out;
  }

  /** The encoding from `from` as one buffer: a view when nothing was spliced, else a copy. */
  flat(from: number): Buffer {
    if (!this.splicedSince(from)) return this.buf.subarray(from, this.length);
    return Buffer.concat(this.pieces(from));
  }

  /** What releases the spliced buffers still in the encoding, or undefined if none has a release. */
  releaser(): (() => void) | undefined {
    const releases: Array<() => void> = [];
    for (const s of this.splices) if (s.release !== undefined) releases.push(s.release);
    if (releases.length <= 1) return releases[0]; // the usual READ: its own release, no wrapper
    return () => {
      for (const r of releases) r();
    };
  }
}

/**
 * Write a variable-length opaque, splicing it when the writer is a reply writer (the server's
 * hot path) and copying it otherwise (codec tests, tools, the client).
 */
export function writeOpaqueSpliced(w: XdrWriter, data: Buffer, release?: () => void): void {
  if (w instanceof RpcReplyWriter) w.opaqueSpliced(data, release);
  else w.opaque(data); // `release` not called: the caller may still hold `data`
}
