// Goal: whatever bytes arrive, the dispatcher answers with a well-formed reply to the same xid
// or drops the message, and never throws. Method: fast-check feeds it arbitrary bytes and
// valid calls with random corruption, and checks each outcome decodes as RFC 5531 §9 says.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import { AcceptStat } from './constants';
import { RpcDispatcher } from './dispatcher';
import { CRED_NONE, decodeReplyHeader, encodeCallHeader } from './message';
import type { ClientAddress, RpcProgram } from './program';

const client: ClientAddress = { address: '127.0.0.1', port: 1, family: 'IPv4', transport: 'tcp' };
const program: RpcProgram = {
  prog: 7,
  name: 'echo',
  versions: [
    {
      vers: 1,
      procedures: [
        () => {},
        (call, w) => {
          const s = call.args.string(64);
          call.args.expectEnd();
          w.string(s);
        },
      ],
    },
  ],
};
const dispatcher = new RpcDispatcher([program]);

async function check(message: Buffer, framed: boolean): Promise<void> {
  const result = await dispatcher.dispatch(message, client, 1, framed);
  if (typeof result === 'string') {
    expect(result).toBe('garbage');
    return;
  }
  expect(Array.isArray(result)).toBe(false); // nothing here splices, so one buffer
  let body = result as Buffer;
  if (framed) {
    expect(body.readUInt32BE(0)).toBe((0x8000_0000 | (body.length - 4)) >>> 0);
    body = body.subarray(4);
  }
  const h = decodeReplyHeader(new XdrReader(body));
  expect(h.xid).toBe(message.readUInt32BE(0));
}

describe('RpcDispatcher', () => {
  it('answers or drops arbitrary bytes, never throws', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.boolean(), async (bytes, framed) => {
        await check(Buffer.from(bytes), framed);
      }),
    );
  });

  it('answers corrupted valid calls with a reply to the same xid', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 3 }),
        fc.string({ maxLength: 80 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
        fc.nat(),
        async (proc, arg, flips, cut) => {
          const w = new XdrWriter(64);
          encodeCallHeader(w, { xid: 99, prog: 7, vers: 1, proc, cred: CRED_NONE });
          w.string(arg);
          const msg = Buffer.from(w.bytes());
          // Keep the xid intact so the reply can be matched; corrupt anything after it.
          for (const [at, v] of flips) msg[4 + (at % (msg.length - 4))] = v;
          await check(msg.subarray(0, Math.max(4, msg.length - (cut % 8))), false);
        },
      ),
    );
  });

  it('turns a string over its limit into GARBAGE_ARGS and a good one into SUCCESS', async () => {
    const call = (s: string) => {
      const w = new XdrWriter(64);
      encodeCallHeader(w, { xid: 5, prog: 7, vers: 1, proc: 1, cred: CRED_NONE });
      w.string(s);
      return Buffer.from(w.bytes());
    };
    const ok = (await dispatcher.dispatch(call('hi'), client, 1, false)) as Buffer;
    const r = new XdrReader(ok);
    expect(decodeReplyHeader(r)).toMatchObject({ kind: 'accepted', stat: AcceptStat.SUCCESS });
    expect(r.string()).toBe('hi');
    const bad = (await dispatcher.dispatch(call('x'.repeat(65)), client, 1, false)) as Buffer;
    expect(decodeReplyHeader(new XdrReader(bad))).toMatchObject({ stat: AcceptStat.GARBAGE_ARGS });
  });
});
