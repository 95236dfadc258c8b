// Goal: the PROXY v2 codec reads and writes exactly the bytes of haproxy's proxy-protocol.txt
// §2.2, refuses what it must, and never throws or over-allocates on hostile bytes.
// Method: golden bytes written from the spec by hand, round trips and fast-check properties
// (random, truncated and arbitrarily split streams), and the trusted-network matcher.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeProxyV2,
  encodeProxyV2,
  NetworkList,
  parseNetwork,
  ProxyCommand,
  ProxyPreamble,
  PROXY_V2_SIGNATURE,
  type ProxyEndpoints,
  type ProxyPreambleResult,
} from './proxy-v2';

const SIG = '0d0a0d0a000d0a515549540a';

describe('PROXY v2 golden bytes', () => {
  it('encodes TCP over IPv4 as the spec lays it out', () => {
    const h = encodeProxyV2({ family: 'IPv4', sourceAddress: '192.168.1.20', sourcePort: 876, destinationAddress: '10.0.0.1', destinationPort: 2049 });
    // sig | 0x21 PROXY v2 | 0x11 INET STREAM | len 12 | c0a80114 | 0a000001 | 036c | 0801
    expect(h.toString('hex')).toBe(`${SIG}2111000cc0a801140a000001036c0801`);
    expect(decodeProxyV2(h)).toEqual({
      kind: 'header',
      bytes: 28,
      header: { command: ProxyCommand.PROXY, family: 'IPv4', sourceAddress: '192.168.1.20', sourcePort: 876, destinationAddress: '10.0.0.1', destinationPort: 2049 },
    });
  });

  it('encodes TCP over IPv6 (and an IPv4 beside an IPv6 address as mapped)', () => {
    const h = encodeProxyV2({ family: 'IPv6', sourceAddress: '2001:db8::1', sourcePort: 1023, destinationAddress: '10.1.2.3', destinationPort: 2049 });
    expect(h.toString('hex')).toBe(`${SIG}21210024` + '20010db8000000000000000000000001' + '00000000000000000000ffff0a010203' + '03ff' + '0801');
    const d = decodeProxyV2(h);
    expect(d).toMatchObject({ kind: 'header', bytes: 52, header: { family: 'IPv6', sourceAddress: '2001:db8::1', destinationAddress: '::ffff:10.1.2.3', sourcePort: 1023 } });
  });

  it('encodes and decodes LOCAL, and treats PROXY with family UNSPEC as LOCAL (§2.2)', () => {
    const local = encodeProxyV2(undefined);
    expect(local.toString('hex')).toBe(`${SIG}20000000`);
    expect(decodeProxyV2(local)).toEqual({ kind: 'header', header: { command: ProxyCommand.LOCAL }, bytes: 16 });
    const unspec = Buffer.from(`${SIG}21000004deadbeef`, 'hex');
    expect(decodeProxyV2(unspec)).toEqual({ kind: 'header', header: { command: ProxyCommand.LOCAL }, bytes: 20 });
  });

  it('skips TLVs after the address block', () => {
    // INET block then a PP2_TYPE_ALPN TLV (0x01, length 2, "nf") and a NOOP TLV (0x04, length 1).
    const h = Buffer.from(`${SIG}21110015` + '7f000002' + '7f000001' + '1f90' + '0801' + '01' + '0002' + '6e66' + '04' + '0001' + '00', 'hex');
    expect(decodeProxyV2(h)).toMatchObject({ kind: 'header', bytes: 37, header: { sourceAddress: '127.0.0.2', sourcePort: 8080 } });
  });

  it('refuses other versions, commands, transports, families, short blocks and long headers', () => {
    const bad = (hex: string): string => {
      const r = decodeProxyV2(Buffer.from(hex, 'hex'));
      expect(r.kind).toBe('error');
      return r.kind === 'error' ? r.reason : '';
    };
    expect(bad(`${SIG}1111000c${'00'.repeat(12)}`)).toMatch(/version 1/);
    expect(bad(`${SIG}2211000c${'00'.repeat(12)}`)).toMatch(/command 2/);
    expect(bad(`${SIG}2112000c${'00'.repeat(12)}`)).toMatch(/transport 2/); // DGRAM
    expect(bad(`${SIG}2131006c${'00'.repeat(108)}`)).toMatch(/family 3/); // UNIX
    expect(bad(`${SIG}21110008${'00'.repeat(8)}`)).toMatch(/INET block of 8/);
    expect(bad(`${SIG}21210020${'00'.repeat(32)}`)).toMatch(/INET6 block of 32/);
    expect(bad(`${SIG}2111ffff`)).toMatch(/exceeds the limit/); // refused before its bytes arrive
    expect(bad(`${SIG}1`.padEnd(26, '0'))).toMatch(/version 1/); // judged at byte 13
  });

  it('says none at the first byte that is not the signature, incomplete on a prefix', () => {
    expect(decodeProxyV2(Buffer.from('80000028', 'hex'))).toEqual({ kind: 'none' }); // an RPC record mark
    expect(decodeProxyV2(Buffer.from('0d0a0d0a000d0a5155495400', 'hex'))).toEqual({ kind: 'none' });
    expect(decodeProxyV2(Buffer.alloc(0))).toEqual({ kind: 'incomplete' });
    expect(decodeProxyV2(PROXY_V2_SIGNATURE.subarray(0, 5))).toEqual({ kind: 'incomplete' });
    expect(decodeProxyV2(Buffer.from(`${SIG}2111000c7f00`, 'hex'))).toEqual({ kind: 'incomplete' });
  });
});

const ipv4Arb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6BytesArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a));
const portArb = fc.nat(0xffff);

/** Text of 16 address bytes via Node's own formatter (a second reading of RFC 5952). */
function nodeIpv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(2 * i).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

describe('PROXY v2 properties', () => {
  it('decode(encode(x)) = x for IPv4 endpoints', () => {
    fc.assert(
      fc.property(ipv4Arb, portArb, ipv4Arb, portArb, (sourceAddress, sourcePort, destinationAddress, destinationPort) => {
        const e: ProxyEndpoints = { family: 'IPv4', sourceAddress, sourcePort, destinationAddress, destinationPort };
        expect(decodeProxyV2(encodeProxyV2(e))).toEqual({ kind: 'header', bytes: 28, header: { command: ProxyCommand.PROXY, ...e } });
      }),
    );
  });

  it('IPv6 addresses survive bytes -> text -> bytes, in any of their written forms', () => {
    fc.assert(
      fc.property(ipv6BytesArb, ipv6BytesArb, portArb, (src, dst, port) => {
        const wire = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x21, 0x21, 0x00, 0x24]), src, dst, Buffer.from([port >> 8, port & 0xff, 0x08, 0x01])]);
        const d = decodeProxyV2(wire);
        if (d.kind !== 'header' || d.header.command !== ProxyCommand.PROXY) throw new Error('no header');
        // Our text names the same address as Node's formatter (which prints mapped IPv4 in hex).
        expect(new URL(`http://[${d.header.sourceAddress}]/`).hostname.slice(1, -1)).toBe(nodeIpv6Text(src));
        // Written back (from our text and from Node's), it is the same 16 bytes.
        const again = encodeProxyV2({ ...d.header, family: 'IPv6' });
        expect(again.equals(wire)).toBe(true);
        const viaNode = encodeProxyV2({ ...d.header, sourceAddress: nodeIpv6Text(src), destinationAddress: nodeIpv6Text(dst) });
        expect(viaNode.equals(wire)).toBe(true);
      }),
    );
  });

  it('arbitrary bytes, and any header with bytes flipped or cut, give a clean answer within the cap', () => {
    const headerArb = fc.oneof(
      fc.tuple(ipv4Arb, portArb, ipv4Arb, portArb).map(([s, sp, d, dp]) => encodeProxyV2({ family: 'IPv4', sourceAddress: s, sourcePort: sp, destinationAddress: d, destinationPort: dp })),
      fc.constant(encodeProxyV2(undefined)),
    );
    const mutated = fc.tuple(headerArb, fc.array(fc.tuple(fc.nat(60), fc.nat(255)), { maxLength: 4 }), fc.nat(60)).map(([h, flips, cut]) => {
      const b = Buffer.from(h);
      for (const [at, v] of flips) if (at < b.length) b[at] = v;
      return b.subarray(0, Math.min(cut, b.length));
    });
    const input = fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), mutated);
    fc.assert(
      fc.property(input, fc.integer({ min: 16, max: 600 }), (buf, cap) => {
        const r = decodeProxyV2(buf, cap);
        expect(['none', 'incomplete', 'header', 'error']).toContain(r.kind);
        if (r.kind === 'header') {
          expect(r.bytes).toBeLessThanOrEqual(Math.min(buf.length, cap));
          expect(r.bytes).toBeGreaterThanOrEqual(16);
        }
        // An incomplete answer is a promise that waiting is bounded by the cap.
        if (r.kind === 'incomplete' && buf.length >= 16) expect(16 + buf.readUInt16BE(14)).toBeLessThanOrEqual(cap);
      }),
    );
  });

  it('gives the same decision and the same following bytes however the stream is split', () => {
    const streamArb = fc.tuple(
      fc.oneof(
        fc.tuple(ipv4Arb, portArb).map(([s, p]) => encodeProxyV2({ family: 'IPv4', sourceAddress: s, sourcePort: p, destinationAddress: '10.0.0.1', destinationPort: 2049 })),
        fc.tuple(ipv6BytesArb, portArb).map(([b, p]) => encodeProxyV2({ family: 'IPv6', sourceAddress: nodeIpv6Text(b), sourcePort: p, destinationAddress: '::1', destinationPort: 2049 })),
        fc.constant(Buffer.alloc(0)),
        fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
      ),
      fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(streamArb, fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 20 }), ([head, tail], sizes) => {
        const stream = Buffer.concat([head, tail]);
        const whole = settle(new ProxyPreamble(), [stream]);
        const chunks: Buffer[] = [];
        for (let at = 0, i = 0; at < stream.length; i++) {
          const n = sizes[i % sizes.length]!;
          chunks.push(stream.subarray(at, at + n));
          at += n;
        }
        expect(settle(new ProxyPreamble(), chunks)).toEqual(whole);
      }),
    );
  });
});

/** Feeds chunks until a decision; the decision plus every byte after the header. */
function settle(p: ProxyPreamble, chunks: Buffer[]): { kind: string; header?: unknown; after?: string } {
  let decided: ProxyPreambleResult | undefined;
  const after: Buffer[] = [];
  for (const c of chunks) {
    if (decided === undefined) {
      const r = p.push(c);
      if (r.kind === 'incomplete') continue;
      decided = r;
      if (r.kind !== 'error') after.push(r.rest);
    } else {
      after.push(c);
    }
  }
  if (decided === undefined) return { kind: 'incomplete' };
  if (decided.kind === 'error') return { kind: 'error' };
  return { kind: decided.kind, header: decided.kind === 'header' ? decided.header : undefined, after: Buffer.concat(after).toString('hex') };
}

describe('NetworkList', () => {
  it('matches IPv4 and IPv6 networks, with IPv4-mapped addresses and networks as IPv4', () => {
    const n = new NetworkList(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::ffff:172.16.0.0/108']);
    expect(n.contains('10.1.2.3')).toBe(true);
    expect(n.contains('::ffff:10.1.2.3')).toBe(true);
    expect(n.contains('11.0.0.1')).toBe(false);
    expect(n.contains('192.168.1.7')).toBe(true);
    expect(n.contains('192.168.1.8')).toBe(false);
    expect(n.contains('fd12::1')).toBe(true);
    expect(n.contains('fe80::1')).toBe(false);
    expect(n.contains('172.16.5.5')).toBe(true); // from the mapped /108 = 172.16.0.0/12
    expect(n.contains('::ffff:172.31.255.255')).toBe(true);
    expect(n.contains('172.32.0.1')).toBe(false);
    expect(n.contains('not an address')).toBe(false);
    expect(new NetworkList([]).contains('127.0.0.1')).toBe(false);
  });

  it('refuses malformed networks with a message', () => {
    expect(parseNetwork('10.0.0.0/33')).toMatch(/bad prefix/);
    expect(parseNetwork('fd00::/129')).toMatch(/bad prefix/);
    expect(parseNetwork('example.com')).toMatch(/not an IP/);
    expect(parseNetwork('10.0.0.0/x')).toMatch(/bad prefix/);
    expect(() => new NetworkList(['10.0.0.0/8', 'nope'])).toThrow(/not an IP/);
    expect(parseNetwork(' 10.0.0.0/8 ')).toEqual({ address: '10.0.0.0', prefix: 8, family: 4 });
  });
});
