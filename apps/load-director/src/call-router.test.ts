// Goal: the director reads the route of a call (handle fsid, MOUNT path) and its header-level
// rejects exactly as RFC 5531/1813 lay them out, and never throws on hostile bytes.
// Method: calls encoded with the RPC layer's own encoder, hand-written golden words, and
// fast-check over random and mutated records; plus the routes table format.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XdrWriter } from '@ferry/xdr';
import { AcceptStat, AuthFlavor, AuthStat, encodeCallHeader, CRED_NONE, type Credential } from '@ferry/oncrpc';
import { CallInfo, classifyCall, nfsReplyStatus, NFS3_RESFAIL_WORDS, Verdict } from './call-router';
import { jukeboxReply } from './local-replies';
import { parseStaticRoutes } from './routes';

const SYS: Credential = { flavor: AuthFlavor.AUTH_SYS, sys: { stamp: 7, machinename: 'client-host', uid: 1000, gid: 1000, gids: [1000, 27] } };

function handle(fsid: bigint): Buffer {
  const fh = Buffer.alloc(40);
  fh[0] = 1;
  fh.writeBigUInt64BE(fsid, 4);
  return fh;
}

function call(prog: number, vers: number, proc: number, args: (w: XdrWriter) => void, cred: Credential = CRED_NONE, xid = 42): Buffer {
  const w = new XdrWriter(128);
  encodeCallHeader(w, { xid, prog, vers, proc, cred });
  args(w);
  return Buffer.from(w.bytes());
}

describe('classifyCall', () => {
  it('routes NFSv3 calls by the fsid at offset 4 of the handle, whatever the credential', () => {
    const info = new CallInfo();
    const rec = call(100003, 3, 7, (w) => w.opaque(handle(0x0102030405060708n)).uhyper(0n).uint(4).uint(2).opaque(Buffer.from('data')), SYS, 99);
    expect(classifyCall(rec, info)).toBe(Verdict.Fsid);
    expect(info).toMatchObject({ xid: 99, prog: 100003, vers: 3, proc: 7, fsid: 0x0102030405060708n });
    expect(classifyCall(call(100003, 3, 1, (w) => w.opaque(handle((1n << 64n) - 1n))), info)).toBe(Verdict.Fsid);
    expect(info.fsid).toBe((1n << 64n) - 1n);
  });

  it('sends foreign handles to any mover and answers what the header alone decides', () => {
    const info = new CallInfo();
    expect(classifyCall(call(100003, 3, 1, (w) => w.opaque(Buffer.alloc(32))), info)).toBe(Verdict.AnyMover);
    const v2 = handle(1n);
    v2[0] = 2;
    expect(classifyCall(call(100003, 3, 1, (w) => w.opaque(v2)), info)).toBe(Verdict.AnyMover);
    expect(classifyCall(call(100003, 3, 0, () => {}), info)).toBe(Verdict.Null);
    expect(classifyCall(call(100003, 2, 1, () => {}), info)).toBe(Verdict.Accepted);
    expect(info).toMatchObject({ acceptStat: AcceptStat.PROG_MISMATCH, low: 3, high: 3 });
    expect(classifyCall(call(100003, 3, 22, () => {}), info)).toBe(Verdict.Accepted);
    expect(info.acceptStat).toBe(AcceptStat.PROC_UNAVAIL);
    expect(classifyCall(call(100003, 3, 1, (w) => w.uint(65)), info)).toBe(Verdict.Accepted); // fh over 64 bytes
    expect(info.acceptStat).toBe(AcceptStat.GARBAGE_ARGS);
    expect(classifyCall(call(100003, 3, 1, (w) => w.uint(40).uint(0)), info)).toBe(Verdict.Accepted); // cut short
    expect(info.acceptStat).toBe(AcceptStat.GARBAGE_ARGS);
    expect(classifyCall(call(100000, 2, 3, () => {}), info)).toBe(Verdict.Accepted);
    expect(info.acceptStat).toBe(AcceptStat.PROG_UNAVAIL);
  });

  it('routes MOUNT MNT and UMNT by path, the rest to any mover', () => {
    const info = new CallInfo();
    expect(classifyCall(call(100005, 3, 1, (w) => w.string('/export/')), info)).toBe(Verdict.ExportPath);
    expect(info.path).toBe('/export/');
    expect(classifyCall(call(100005, 1, 3, (w) => w.string('/b')), info)).toBe(Verdict.ExportPath);
    for (const proc of [2, 4, 5]) expect(classifyCall(call(100005, 3, proc, () => {}), info)).toBe(Verdict.AnyMover);
    expect(classifyCall(call(100005, 3, 0, () => {}), info)).toBe(Verdict.Null);
    expect(classifyCall(call(100005, 2, 1, () => {}), info)).toBe(Verdict.Accepted);
    expect(info).toMatchObject({ acceptStat: AcceptStat.PROG_MISMATCH, low: 1, high: 3 });
    expect(classifyCall(call(100005, 3, 1, (w) => w.uint(1025)), info)).toBe(Verdict.Accepted);
    expect(info.acceptStat).toBe(AcceptStat.GARBAGE_ARGS);
    expect(classifyCall(call(100005, 3, 6, () => {}), info)).toBe(Verdict.Accepted);
    expect(info.acceptStat).toBe(AcceptStat.PROC_UNAVAIL);
  });

  it('golden words: header rejects and drops', () => {
    const info = new CallInfo();
    const words = (...w: number[]): Buffer => {
      const b = Buffer.alloc(4 * w.length);
      w.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
      return b;
    };
    expect(classifyCall(words(5, 0, 3), info)).toBe(Verdict.RpcMismatch);
    expect(info.xid).toBe(5);
    expect(classifyCall(words(5, 1, 2), info)).toBe(Verdict.Drop); // a reply
    expect(classifyCall(words(5, 0, 2, 100003, 3, 1, 1), info)).toBe(Verdict.Drop); // cut in the credential
    expect(classifyCall(words(5, 0, 2, 100003, 3, 1, 1, 401), info)).toBe(Verdict.AuthError);
    expect(info.authStat).toBe(AuthStat.AUTH_BADCRED);
    expect(classifyCall(words(5, 0, 2, 100003, 3, 1, 0, 0, 0, 401), info)).toBe(Verdict.AuthError);
    expect(info.authStat).toBe(AuthStat.AUTH_BADVERF);
    expect(classifyCall(Buffer.alloc(3), info)).toBe(Verdict.Drop);
  });

  it('never throws on random bytes or on mutated and truncated calls', () => {
    const base = call(100003, 3, 7, (w) => w.opaque(handle(5n)).uhyper(0n), SYS);
    const mount = call(100005, 3, 1, (w) => w.string('/export'), SYS);
    const mutated = fc.tuple(fc.constantFrom(base, mount), fc.array(fc.tuple(fc.nat(200), fc.nat(255)), { maxLength: 6 }), fc.nat(220)).map(([b, flips, cut]) => {
      const m = Buffer.from(b);
      for (const [at, v] of flips) if (at < m.length) m[at] = v;
      return m.subarray(0, cut);
    });
    const info = new CallInfo();
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a))), (rec) => {
        const v = classifyCall(rec, info);
        expect(v).toBeGreaterThanOrEqual(Verdict.Drop);
        expect(v).toBeLessThanOrEqual(Verdict.AnyMover);
        if (v === Verdict.ExportPath) expect(Buffer.byteLength(info.path)).toBeLessThanOrEqual(3 * 1024);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('replies', () => {
  it('reads the nfsstat3 of a reply and writes JUKEBOX with each procedure resfail', () => {
    for (let proc = 1; proc < 22; proc++) {
      const framed = jukeboxReply(77, proc);
      const rec = framed.subarray(4);
      expect(framed.readUInt32BE(0)).toBe((0x8000_0000 | rec.length) >>> 0);
      expect(nfsReplyStatus(rec)).toBe(10008);
      // header 24 bytes, status, then all-FALSE attribute flags
      expect(rec.length).toBe(28 + 4 * NFS3_RESFAIL_WORDS[proc]!);
      expect(rec.subarray(28).every((b) => b === 0)).toBe(true);
    }
    // RENAME's two wcc_data and LINK's post_op_attr + wcc_data (RFC 1813 §3.3.14, §3.3.15).
    expect(NFS3_RESFAIL_WORDS[14]).toBe(4);
    expect(NFS3_RESFAIL_WORDS[15]).toBe(3);
    expect(jukeboxReply(1, 1).subarray(4).toString('hex')).toBe('00000001' + '00000001' + '00000000' + '00000000' + '00000000' + '00000000' + '00002718');
    expect(nfsReplyStatus(Buffer.from('0000000100000001000000010000000000000000', 'hex'))).toBe(-1); // denied
  });
});

describe('FERRY_DIRECTOR_ROUTES', () => {
  it('parses owners, export paths, IPv6 movers and spare movers', () => {
    const t = parseStaticRoutes(' 1=10.0.0.5:2049, 2=[fd00::5]:2050,3=mover-a.svc:2049,export:/export/=1,export:/home=2, mover:10.0.0.9:2049');
    expect(t.owners.get(1n)?.key).toBe('10.0.0.5:2049');
    expect(t.owners.get(2n)).toEqual({ host: 'fd00::5', port: 2050, key: '[fd00::5]:2050' });
    expect(t.owners.get(3n)?.host).toBe('mover-a.svc');
    expect(t.exports.get('/export')).toBe(1n);
    expect(t.exports.get('/home')).toBe(2n);
    expect(t.movers.map((m) => m.key)).toEqual(['10.0.0.5:2049', '[fd00::5]:2050', 'mover-a.svc:2049', '10.0.0.9:2049']);
    const shared = parseStaticRoutes('1=h:1,2=h:1');
    expect(shared.owners.get(1n)).toBe(shared.owners.get(2n));
    expect(shared.movers).toHaveLength(1);
  });
  it('refuses malformed entries by name', () => {
    expect(() => parseStaticRoutes('1=h:1,')).toThrow(/empty entry/);
    expect(() => parseStaticRoutes('x=h:1')).toThrow(/"x" is not a decimal fsid/);
    expect(() => parseStaticRoutes('18446744073709551616=h:1')).toThrow(/64 bits/);
    expect(() => parseStaticRoutes('1=h')).toThrow(/not host:port/);
    expect(() => parseStaticRoutes('1=h:0')).toThrow(/out of range/);
    expect(() => parseStaticRoutes('1=fd00::1:2049')).toThrow(/not host:port/);
    expect(() => parseStaticRoutes('1=[nope]:2049')).toThrow(/not an IPv6/);
    expect(() => parseStaticRoutes('export:rel=1')).toThrow(/absolute/);
    expect(() => parseStaticRoutes('export:/a=1,export:/a/=2')).toThrow(/twice/);
    expect(() => parseStaticRoutes('1=h:1,1=h:2')).toThrow(/twice/);
  });
});
