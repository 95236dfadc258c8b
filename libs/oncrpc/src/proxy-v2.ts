/**
 * PROXY protocol version 2, binary header (haproxy proxy-protocol.txt §2.2), and the list of
 * networks trusted to send it.
 *
 * A load director opens each upstream connection to a data mover with one such header naming
 * the NFS client it relays for, so the mover's export rules see the real client. Layout:
 *
 *   offset  size  field
 *   0       12    signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
 *   12      1     version (high nibble, must be 2) | command (low nibble: 0 LOCAL, 1 PROXY)
 *   13      1     family (high: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) | transport (low: 1 STREAM)
 *   14      2     length of what follows, big-endian
 *   16      12    INET:  src addr 4, dst addr 4, src port 2, dst port 2
 *           36    INET6: src addr 16, dst addr 16, src port 2, dst port 2
 *   ...           TLVs up to the length (skipped: we use none of them)
 *
 * Invariants of the decoder:
 * - It never throws and never allocates more than the header it is given: the announced length
 *   comes from the peer, so it is checked against `maxHeaderBytes` before anything waits for it.
 * - `none` is answered as soon as one byte differs from the signature, `incomplete` while the
 *   bytes seen so far could still be a header, and the header is complete only when its whole
 *   announced length is here; so the answer for a stream never depends on how it was split.
 * - Only what we can act on safely is accepted: LOCAL (the peer speaks for itself), and PROXY
 *   over TCP (STREAM) with an INET or INET6 address block. PROXY with family UNSPEC counts as
 *   LOCAL, as §2.2 requires. A UNIX or DGRAM block from a trusted peer is an error rather than
 *   the spec's fallback to the real endpoints: falling back would give export rules the
 *   director's own address, which may be trusted more than the client behind it.
 */
import { BlockList, isIP, isIPv4 } from 'node:net';

export const PROXY_V2_SIGNATURE: Buffer = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Signature, version/command, family/transport, length. */
export const PROXY_V2_FIXED_BYTES = 16;
export const PROXY_V2_VERSION = 2;
export const PROXY_V2_INET_BYTES = 12;
export const PROXY_V2_INET6_BYTES = 36;
/** Default cap on a whole header: an INET6 block with room for a few TLVs. */
export const DEFAULT_MAX_PROXY_HEADER_BYTES = 512;

export enum ProxyCommand {
  LOCAL = 0,
  PROXY = 1,
}

/** The connection a PROXY header describes, as the proxy saw it. */
export interface ProxyEndpoints {
  family: 'IPv4' | 'IPv6';
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
}

export type ProxyHeader = { command: ProxyCommand.LOCAL } | ({ command: ProxyCommand.PROXY } & ProxyEndpoints);

export type ProxyDecodeResult =
  /** The bytes do not start with the signature: no header. */
  | { kind: 'none' }
  /** A prefix of a possible header: more bytes are needed. */
  | { kind: 'incomplete' }
  /** A whole header of `bytes` bytes; what follows it belongs to the protocol it carries. */
  | { kind: 'header'; header: ProxyHeader; bytes: number }
  /** A header we refuse; the connection cannot go on. */
  | { kind: 'error'; reason: string };

/** Whether `buf` starts with the signature, or with a prefix of it when shorter. */
function signatureMatches(buf: Buffer): boolean {
  const n = Math.min(buf.length, PROXY_V2_SIGNATURE.length);
  for (let i = 0; i < n; i++) if (buf[i] !== PROXY_V2_SIGNATURE[i]) return false;
  return true;
}

/** Decodes a header at the start of `buf` (never throws). */
export function decodeProxyV2(buf: Buffer, maxHeaderBytes = DEFAULT_MAX_PROXY_HEADER_BYTES): ProxyDecodeResult {
  if (!signatureMatches(buf)) return { kind: 'none' };
  if (buf.length < PROXY_V2_FIXED_BYTES) {
    // Version and command can already be judged when they are here.
    if (buf.length > 12 && buf[12]! >> 4 !== PROXY_V2_VERSION) return { kind: 'error', reason: `PROXY version ${buf[12]! >> 4} (only 2 is spoken)` };
    return { kind: 'incomplete' };
  }
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== PROXY_V2_VERSION) return { kind: 'error', reason: `PROXY version ${verCmd >> 4} (only 2 is spoken)` };
  const command = verCmd & 0x0f;
  if (command !== ProxyCommand.LOCAL && command !== ProxyCommand.PROXY) return { kind: 'error', reason: `PROXY command ${command} is not LOCAL or PROXY` };
  const famProto = buf[13]!;
  const length = buf.readUInt16BE(14);
  const total = PROXY_V2_FIXED_BYTES + length;
  // The length comes from the peer: refuse it before waiting for (and buffering) its bytes.
  if (total > maxHeaderBytes) return { kind: 'error', reason: `PROXY header of ${total} bytes exceeds the limit of ${maxHeaderBytes}` };
  if (buf.length < total) return { kind: 'incomplete' };
  // §2.2: with LOCAL the receiver uses the real endpoints and ignores the address block.
  if (command === ProxyCommand.LOCAL) return { kind: 'header', header: { command: ProxyCommand.LOCAL }, bytes: total };
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  if (family === 0) return { kind: 'header', header: { command: ProxyCommand.LOCAL }, bytes: total };
  if (transport !== 1) return { kind: 'error', reason: `PROXY transport ${transport} is not STREAM (TCP)` };
  const at = PROXY_V2_FIXED_BYTES;
  if (family === 1) {
    if (length < PROXY_V2_INET_BYTES) return { kind: 'error', reason: `PROXY INET block of ${length} bytes (12 needed)` };
    return {
      kind: 'header',
      bytes: total,
      header: {
        command: ProxyCommand.PROXY,
        family: 'IPv4',
        sourceAddress: ipv4Text(buf, at),
        destinationAddress: ipv4Text(buf, at + 4),
        sourcePort: buf.readUInt16BE(at + 8),
        destinationPort: buf.readUInt16BE(at + 10),
      },
    };
  }
  if (family === 2) {
    if (length < PROXY_V2_INET6_BYTES) return { kind: 'error', reason: `PROXY INET6 block of ${length} bytes (36 needed)` };
    return {
      kind: 'header',
      bytes: total,
      header: {
        command: ProxyCommand.PROXY,
        family: 'IPv6',
        sourceAddress: ipv6Text(buf, at),
        destinationAddress: ipv6Text(buf, at + 16),
        sourcePort: buf.readUInt16BE(at + 32),
        destinationPort: buf.readUInt16BE(at + 34),
      },
    };
  }
  return { kind: 'error', reason: `PROXY address family ${family} is not INET or INET6` };
}

function ipv4Text(buf: Buffer, at: number): string {
  return `${buf[at]!}.${buf[at + 1]!}.${buf[at + 2]!}.${buf[at + 3]!}`;
}

/** RFC 5952 text (lower case, longest zero run compressed); IPv4-mapped as ::ffff:a.b.c.d. */
function ipv6Text(buf: Buffer, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + 2 * i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${ipv4Text(buf, at + 12)}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function writeIpv6(out: Buffer, at: number, text: string): void {
  // Expand '::' and a dotted IPv4 tail into eight groups.
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  let tail: number[] = [];
  if (dotted) {
    const p = dotted[1]!.split('.').map(Number);
    tail = [(p[0]! << 8) | p[1]!, (p[2]! << 8) | p[3]!];
    s = s.slice(0, s.length - dotted[1]!.length);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const parse = (part: string | undefined): number[] => (part ? part.split(':').filter((x) => x !== '').map((x) => parseInt(x, 16)) : []);
  const h = parse(head);
  const r = parse(rest);
  const fill = 8 - h.length - r.length - tail.length;
  const groups = [...h, ...(rest !== undefined ? new Array<number>(fill).fill(0) : []), ...r, ...tail];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i] ?? 0, at + 2 * i);
}

/**
 * Encodes a PROXY (or, without endpoints, LOCAL) header over TCP. IPv4 endpoints give an INET
 * block; anything else an INET6 block (an IPv4 address beside an IPv6 one is written mapped).
 */
export function encodeProxyV2(endpoints: ProxyEndpoints | undefined): Buffer {
  if (endpoints === undefined) {
    const out = Buffer.alloc(PROXY_V2_FIXED_BYTES);
    PROXY_V2_SIGNATURE.copy(out, 0);
    out[12] = (PROXY_V2_VERSION << 4) | ProxyCommand.LOCAL;
    return out;
  }
  const { sourceAddress: src, destinationAddress: dst } = endpoints;
  if (isIP(src) === 0 || isIP(dst) === 0) throw new RangeError(`PROXY endpoints must be IP addresses: ${src}, ${dst}`);
  for (const p of [endpoints.sourcePort, endpoints.destinationPort]) {
    if (!(Number.isInteger(p) && p >= 0 && p <= 0xffff)) throw new RangeError(`PROXY port ${p} out of range`);
  }
  const v4 = isIPv4(src) && isIPv4(dst);
  const blockBytes = v4 ? PROXY_V2_INET_BYTES : PROXY_V2_INET6_BYTES;
  const out = Buffer.alloc(PROXY_V2_FIXED_BYTES + blockBytes);
  PROXY_V2_SIGNATURE.copy(out, 0);
  out[12] = (PROXY_V2_VERSION << 4) | ProxyCommand.PROXY;
  out[13] = ((v4 ? 1 : 2) << 4) | 1;
  out.writeUInt16BE(blockBytes, 14);
  const at = PROXY_V2_FIXED_BYTES;
  if (v4) {
    writeIpv4(out, at, src);
    writeIpv4(out, at + 4, dst);
    out.writeUInt16BE(endpoints.sourcePort, at + 8);
    out.writeUInt16BE(endpoints.destinationPort, at + 10);
  } else {
    writeIpv6(out, at, isIPv4(src) ? `::ffff:${src}` : src);
    writeIpv6(out, at + 16, isIPv4(dst) ? `::ffff:${dst}` : dst);
    out.writeUInt16BE(endpoints.sourcePort, at + 32);
    out.writeUInt16BE(endpoints.destinationPort, at + 34);
  }
  return out;
}

function writeIpv4(out: Buffer, at: number, text: string): void {
  const p = text.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(p[i]);
}

/**
 * The start of a TCP stream that may begin with a PROXY v2 header, however it is split into
 * chunks. Bytes are held only until the header is decided (at most `maxHeaderBytes`); then
 * `push` answers the decision once with the bytes that follow the header.
 */
export class ProxyPreamble {
  private held: Buffer | undefined;

  constructor(private readonly maxHeaderBytes = DEFAULT_MAX_PROXY_HEADER_BYTES) {}

  push(chunk: Buffer): ProxyPreambleResult {
    const buf = this.held === undefined ? chunk : Buffer.concat([this.held, chunk]);
    const r = decodeProxyV2(buf, this.maxHeaderBytes);
    if (r.kind === 'incomplete') {
      this.held = buf;
      return r;
    }
    this.held = undefined;
    if (r.kind === 'none') return { kind: 'none', rest: buf };
    if (r.kind === 'error') return r;
    return { kind: 'header', header: r.header, rest: buf.subarray(r.bytes) };
  }
}

export type ProxyPreambleResult =
  | { kind: 'incomplete' }
  | { kind: 'none'; rest: Buffer }
  | { kind: 'header'; header: ProxyHeader; rest: Buffer }
  | { kind: 'error'; reason: string };

/** Strips the IPv4-mapped prefix a dual-stack socket puts on IPv4 peers. */
export function unmapIPv4(address: string): string {
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:' && isIPv4(address.slice(7))) return address.slice(7);
  return address;
}

/**
 * A list of networks (CIDRs or single addresses, IPv4 and IPv6). An IPv4-mapped IPv6 network
 * of prefix 96 or more is the IPv4 network it maps, and a mapped address is checked as IPv4, so
 * a dual-stack listener and an IPv4 listener trust the same peers.
 */
export class NetworkList {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(networks: readonly string[]) {
    for (const raw of networks) {
      const parsed = parseNetwork(raw);
      if (typeof parsed === 'string') throw new RangeError(parsed);
      this.list.addSubnet(parsed.address, parsed.prefix, parsed.family === 4 ? 'ipv4' : 'ipv6');
    }
    this.size = networks.length;
  }

  contains(address: string): boolean {
    const a = unmapIPv4(address);
    const fam = isIP(a);
    if (fam === 0) return false;
    return this.list.check(a, fam === 4 ? 'ipv4' : 'ipv6');
  }
}

/** Parses `a.b.c.d/n`, `x::y/n` or a single address; a message says what is wrong. */
export function parseNetwork(raw: string): { address: string; prefix: number; family: 4 | 6 } | string {
  const text = raw.trim();
  const slash = text.indexOf('/');
  let address = slash < 0 ? text : text.slice(0, slash);
  let fam = isIP(address);
  if (fam === 0) return `${JSON.stringify(raw)} is not an IP address or CIDR`;
  let prefix = fam === 4 ? 32 : 128;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > prefix) return `${JSON.stringify(raw)} has a bad prefix length`;
    prefix = Number(p);
  }
  const unmapped = unmapIPv4(address);
  if (fam === 6 && unmapped !== address && prefix >= 96) {
    address = unmapped;
    prefix -= 96;
    fam = 4;
  }
  return { address, prefix, family: fam === 4 ? 4 : 6 };
}
