// Goal: pin the RPC call and reply headers (RFC 5531 §9, appendix A) to real bytes and show
// that decoding never crashes on hostile input. Method: hand-computed byte arrays for each
// header and reject, then fast-check round trips and arbitrary/truncated byte strings.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XdrError, XdrReader, XdrWriter } from '@ferry/xdr';
import { AcceptStat, AuthStat, RejectStat } from './constants';
import {
  CredentialCache,
  decodeCall,
  decodeReplyHeader,
  encodeAcceptedReply,
  encodeAuthError,
  encodeCallHeader,
  encodeProgMismatch,
  encodeRpcMismatch,
  type CallHeader,
} from './message';
import { AuthFlavor, type Credential } from './program';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const encode = (f: (w: XdrWriter) => void): string => {
  const w = new XdrWriter(8);
  f(w);
  return w.bytes().toString('hex');
};

const NONE: Credential = { flavor: AuthFlavor.AUTH_NONE };
const SYS: Credential = {
  flavor: AuthFlavor.AUTH_SYS,
  sys: { stamp: 0x11223344, machinename: 'box01', uid: 1000, gid: 100, gids: [100, 4] },
};

// xid 0x01020304, CALL, rpcvers 2, prog 100003 (0x186a3), vers 3, proc 1.
const CALL_PREFIX = '01020304 00000000 00000002 000186a3 00000003 00000001';
const CRED_NONE_BYTES = '00000000 00000000';
const VERF_NONE_BYTES = '00000000 00000000';
// AUTH_SYS, body 36 bytes: stamp, "box01" padded to 8, uid 1000, gid 100, 2 gids (100, 4).
const CRED_SYS_BYTES = '00000001 00000024 11223344 00000005 626f783031000000 000003e8 00000064 00000002 00000064 00000004';

describe('call header golden bytes', () => {
  it('encodes an AUTH_NONE call', () => {
    const h: CallHeader = { xid: 0x01020304, prog: 100003, vers: 3, proc: 1, cred: NONE };
    expect(encode((w) => encodeCallHeader(w, h))).toBe(hex(CALL_PREFIX + CRED_NONE_BYTES + VERF_NONE_BYTES).toString('hex'));
  });

  it('encodes an AUTH_SYS call', () => {
    const h: CallHeader = { xid: 0x01020304, prog: 100003, vers: 3, proc: 1, cred: SYS };
    expect(encode((w) => encodeCallHeader(w, h))).toBe(hex(CALL_PREFIX + CRED_SYS_BYTES + VERF_NONE_BYTES).toString('hex'));
  });

  it('decodes an AUTH_SYS call and leaves the reader at the arguments', () => {
    const r = new XdrReader(hex(CALL_PREFIX + CRED_SYS_BYTES + VERF_NONE_BYTES + 'cafebabe'));
    expect(decodeCall(r)).toEqual({ kind: 'call', xid: 0x01020304, prog: 100003, vers: 3, proc: 1, cred: SYS });
    expect(r.uint()).toBe(0xcafebabe);
  });
});

describe('credential cache', () => {
  const sysCall = (cred: Credential, verf = VERF_NONE_BYTES): Buffer => {
    const w = new XdrWriter();
    encodeCallHeader(w, { xid: 7, prog: 100003, vers: 3, proc: 1, cred });
    const bytes = Buffer.from(w.bytes());
    return verf === VERF_NONE_BYTES ? bytes : Buffer.concat([bytes.subarray(0, bytes.length - 8), hex(verf)]);
  };

  it('gives the same frozen credential for the same body, what a fresh decode gives', () => {
    const cache = new CredentialCache(2);
    const first = decodeCall(new XdrReader(sysCall(SYS)), cache);
    const again = decodeCall(new XdrReader(sysCall(SYS)), cache);
    expect(first).toEqual(decodeCall(new XdrReader(sysCall(SYS))));
    if (first.kind !== 'call' || again.kind !== 'call') throw new Error('not a call');
    expect(again.cred).toBe(first.cred);
    expect(Object.isFrozen(first.cred)).toBe(true);
    if (first.cred.flavor !== AuthFlavor.AUTH_SYS) throw new Error('not AUTH_SYS');
    expect(Object.isFrozen(first.cred.sys.gids)).toBe(true);
  });

  it('tells credentials apart by every byte, and evicts the oldest beyond its capacity', () => {
    const cache = new CredentialCache(2);
    const as = (uid: number): Credential => ({ flavor: AuthFlavor.AUTH_SYS, sys: { stamp: 1, machinename: 'm', uid, gid: 1, gids: [] } });
    const credOf = (uid: number): Credential => {
      const d = decodeCall(new XdrReader(sysCall(as(uid))), cache);
      if (d.kind !== 'call') throw new Error('not a call');
      return d.cred;
    };
    const a = credOf(1);
    expect(credOf(2)).toEqual(as(2));
    expect(credOf(1)).toBe(a);
    expect(credOf(3)).toEqual(as(3)); // replaces uid 1, the oldest
    expect(credOf(1)).not.toBe(a);
    expect(credOf(1)).toEqual(as(1));
  });

  it('still checks the verifier of a call whose credential it knows', () => {
    const cache = new CredentialCache();
    decodeCall(new XdrReader(sysCall(SYS)), cache);
    expect(decodeCall(new XdrReader(sysCall(SYS, '00000001 00000000')), cache)).toEqual({ kind: 'authError', xid: 7, stat: AuthStat.AUTH_BADVERF });
  });
});

describe('call header rejects', () => {
  const decode = (s: string) => decodeCall(new XdrReader(hex(s)));

  it('answers RPC_MISMATCH for rpcvers 3 without reading further', () => {
    expect(decode('00000007 00000000 00000003')).toEqual({ kind: 'rpcMismatch', xid: 7 });
  });

  it('drops a reply sent to the server', () => {
    expect(decode('00000007 00000001 00000000')).toEqual({ kind: 'notCall', xid: 7 });
  });

  it('rejects a credential body over 400 bytes with AUTH_BADCRED', () => {
    expect(decode(CALL_PREFIX + '00000001 00000194')).toEqual({ kind: 'authError', xid: 0x01020304, stat: AuthStat.AUTH_BADCRED });
  });

  it('rejects a verifier body over 400 bytes with AUTH_BADVERF', () => {
    expect(decode(CALL_PREFIX + CRED_NONE_BYTES + '00000000 00000191')).toEqual({
      kind: 'authError',
      xid: 0x01020304,
      stat: AuthStat.AUTH_BADVERF,
    });
  });

  it('rejects an AUTH_NONE credential with a body', () => {
    expect(decode(CALL_PREFIX + '00000000 00000004 00000000' + VERF_NONE_BYTES)).toMatchObject({ stat: AuthStat.AUTH_BADCRED });
  });

  it('rejects AUTH_SYS with 17 gids, a 256-byte machinename, or trailing bytes', () => {
    const sysCred = (machine: number, gids: number, extra = ''): string => {
      const body =
        '00000000' +
        machine.toString(16).padStart(8, '0') +
        '61'.repeat(machine) +
        '00'.repeat((4 - (machine % 4)) % 4) +
        '00000000 00000000' +
        gids.toString(16).padStart(8, '0') +
        '00000001'.repeat(gids) +
        extra;
      const len = hex(body).length;
      return CALL_PREFIX + '00000001' + len.toString(16).padStart(8, '0') + body + VERF_NONE_BYTES;
    };
    expect(decode(sysCred(255, 16))).toMatchObject({ kind: 'call' });
    expect(decode(sysCred(0, 17))).toMatchObject({ kind: 'authError', stat: AuthStat.AUTH_BADCRED });
    expect(decode(sysCred(256, 0))).toMatchObject({ kind: 'authError', stat: AuthStat.AUTH_BADCRED });
    expect(decode(sysCred(4, 1, '00000000'))).toMatchObject({ kind: 'authError', stat: AuthStat.AUTH_BADCRED });
  });

  it('rejects unknown flavors (RPCSEC_GSS, AUTH_SHORT) with AUTH_REJECTEDCRED', () => {
    expect(decode(CALL_PREFIX + '00000006 00000000' + VERF_NONE_BYTES)).toMatchObject({ stat: AuthStat.AUTH_REJECTEDCRED });
    expect(decode(CALL_PREFIX + '00000002 00000004 00000001' + VERF_NONE_BYTES)).toMatchObject({ stat: AuthStat.AUTH_REJECTEDCRED });
  });

  it('rejects a non-AUTH_NONE verifier with AUTH_BADVERF', () => {
    expect(decode(CALL_PREFIX + CRED_NONE_BYTES + '00000001 00000000')).toMatchObject({ stat: AuthStat.AUTH_BADVERF });
  });

  it('throws XdrError for a header cut short', () => {
    expect(() => decode(CALL_PREFIX + CRED_NONE_BYTES + '00000000')).toThrow(XdrError);
    expect(() => decode(CALL_PREFIX + '00000001 00000024 1122')).toThrow(XdrError);
  });
});

describe('reply header golden bytes', () => {
  const XID_REPLY = '00000001 00000001';
  const ACCEPTED = XID_REPLY + '00000000 00000000 00000000';
  const cases: Array<[string, (w: XdrWriter) => void, string]> = [
    ['SUCCESS', (w) => encodeAcceptedReply(w, 1, AcceptStat.SUCCESS), ACCEPTED + '00000000'],
    ['PROG_UNAVAIL', (w) => encodeAcceptedReply(w, 1, AcceptStat.PROG_UNAVAIL), ACCEPTED + '00000001'],
    ['PROG_MISMATCH', (w) => encodeProgMismatch(w, 1, 2, 3), ACCEPTED + '00000002 00000002 00000003'],
    ['PROC_UNAVAIL', (w) => encodeAcceptedReply(w, 1, AcceptStat.PROC_UNAVAIL), ACCEPTED + '00000003'],
    ['GARBAGE_ARGS', (w) => encodeAcceptedReply(w, 1, AcceptStat.GARBAGE_ARGS), ACCEPTED + '00000004'],
    ['SYSTEM_ERR', (w) => encodeAcceptedReply(w, 1, AcceptStat.SYSTEM_ERR), ACCEPTED + '00000005'],
    ['RPC_MISMATCH', (w) => encodeRpcMismatch(w, 1), XID_REPLY + '00000001 00000000 00000002 00000002'],
    ['AUTH_ERROR', (w) => encodeAuthError(w, 1, AuthStat.AUTH_TOOWEAK), XID_REPLY + '00000001 00000001 00000005'],
  ];
  for (const [name, write, bytes] of cases) {
    it(`encodes ${name}`, () => expect(encode(write)).toBe(hex(bytes).toString('hex')));
  }

  it('decodes each reject to its fields', () => {
    const dec = (s: string) => decodeReplyHeader(new XdrReader(hex(s)));
    expect(dec(ACCEPTED + '00000002 00000002 00000003')).toMatchObject({ kind: 'accepted', stat: AcceptStat.PROG_MISMATCH, mismatch: { low: 2, high: 3 } });
    expect(dec(XID_REPLY + '00000001 00000000 00000002 00000002')).toMatchObject({ kind: 'denied', stat: RejectStat.RPC_MISMATCH, mismatch: { low: 2, high: 2 } });
    expect(dec(XID_REPLY + '00000001 00000001 00000001')).toMatchObject({ kind: 'denied', stat: RejectStat.AUTH_ERROR, authStat: AuthStat.AUTH_BADCRED });
    expect(() => dec(XID_REPLY + '00000002')).toThrow(XdrError);
    expect(() => dec(ACCEPTED + '00000006')).toThrow(XdrError);
  });
});

const credArb: fc.Arbitrary<Credential> = fc.oneof(
  fc.constant<Credential>({ flavor: AuthFlavor.AUTH_NONE }),
  fc.record({
    stamp: fc.nat({ max: 0xffffffff }),
    machinename: fc.string({ maxLength: 255 }),
    uid: fc.nat({ max: 0xffffffff }),
    gid: fc.nat({ max: 0xffffffff }),
    gids: fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 16 }),
  }).map((sys): Credential => ({ flavor: AuthFlavor.AUTH_SYS, sys })),
);
const u32 = fc.nat({ max: 0xffffffff });

describe('properties', () => {
  it('decodeCall(encodeCallHeader(h)) = h, arguments untouched', () => {
    fc.assert(
      fc.property(u32, u32, u32, u32, credArb, fc.uint8Array({ maxLength: 64 }), (xid, prog, vers, proc, cred, tail) => {
        const w = new XdrWriter(16);
        encodeCallHeader(w, { xid, prog, vers, proc, cred });
        w.fixedOpaque(tail);
        const r = new XdrReader(w.bytes());
        expect(decodeCall(r)).toEqual({ kind: 'call', xid, prog, vers, proc, cred });
        expect(r.remaining).toBe((tail.length + 3) & ~3);
      }),
    );
  });

  it('decodeReplyHeader inverts every reply encoder', () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: 8 }), u32, u32, (xid, kind, a, b) => {
        const w = new XdrWriter(16);
        if (kind <= 5 && kind !== AcceptStat.PROG_MISMATCH) encodeAcceptedReply(w, xid, kind);
        else if (kind === AcceptStat.PROG_MISMATCH) encodeProgMismatch(w, xid, a, b);
        else if (kind === 6) encodeRpcMismatch(w, xid, a, b);
        else encodeAuthError(w, xid, a);
        const h = decodeReplyHeader(new XdrReader(w.bytes()));
        expect(h.xid).toBe(xid);
        if (kind <= 5) expect(h).toMatchObject({ kind: 'accepted', stat: kind });
        if (kind === AcceptStat.PROG_MISMATCH || kind === 6) expect(h).toMatchObject({ mismatch: { low: a, high: b } });
        if (kind === 7) expect(h).toMatchObject({ kind: 'denied', authStat: a });
      }),
    );
  });

  it('arbitrary bytes give a decision or an XdrError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        for (const decode of [decodeCall, decodeReplyHeader]) {
          try {
            decode(new XdrReader(Buffer.from(bytes)));
          } catch (err) {
            expect(err).toBeInstanceOf(XdrError);
          }
        }
      }),
    );
  });

  it('every truncation of a valid call header is an XdrError, never a wrong decision', () => {
    fc.assert(
      fc.property(u32, credArb, (xid, cred) => {
        const w = new XdrWriter(16);
        encodeCallHeader(w, { xid, prog: 100003, vers: 3, proc: 0, cred });
        const full = w.bytes();
        for (let n = 0; n < full.length; n++) {
          expect(() => decodeCall(new XdrReader(full.subarray(0, n)))).toThrow(XdrError);
        }
      }),
    );
  });
});
