/**
 * Goal: the programs NfsService hands to the RPC layer are complete and robust: both NULLs,
 * every procedure present and named, malformed or trailing argument bytes surface only as
 * XdrError (GARBAGE_ARGS), and cross-filesystem calls answer XDEV.
 * Method: raw calls through the program tables of a Harness, with fast-check arbitrary bytes
 * fed to every procedure handler.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XdrError, XdrReader, XdrWriter } from '@ferry/xdr';
import { FileHandleCodec } from './file-handle';
import { GETATTR, NFS3_PROCEDURES, RENAME } from './nfs3/procedures';
import { NfsStat3 } from './nfs3/xdr-types';
import { FSID, Harness, KEY, rawCall } from './testing/harness';

describe('program tables', () => {
  it('serve MOUNT v3 and NFS v3 with named procedures', () => {
    const h = new Harness();
    expect(h.mount).toMatchObject({ prog: 100005, versions: [{ vers: 3 }, { vers: 1 }] });
    expect(h.nfs).toMatchObject({ prog: 100003, versions: [{ vers: 3 }] });
    expect(h.nfs.versions[0]?.procedures).toHaveLength(22);
    expect(h.nfs.procedureNames?.[17]).toBe('READDIRPLUS');
    expect(h.mount.procedureNames?.[1]).toBe('MNT');
  });

  it('answer NULL with an empty body', async () => {
    const h = new Harness();
    expect(await rawCall(h.nfs, 0, Buffer.alloc(0))).toHaveLength(0);
    expect(await rawCall(h.mount, 0, Buffer.alloc(0))).toHaveLength(0);
  });

  it('refuse trailing argument bytes as malformed', async () => {
    const h = new Harness();
    const w = new XdrWriter();
    GETATTR.encodeArgs(w, { object: h.root });
    w.uint(0);
    await expect(rawCall(h.nfs, GETATTR.proc, Buffer.from(w.bytes()))).rejects.toBeInstanceOf(XdrError);
  });

  it('answer XDEV for a RENAME between filesystems', async () => {
    const h = new Harness();
    const other = new FileHandleCodec(KEY).encode(FSID + 1n, { ino: 1n, generation: 1 });
    const r = await h.call(RENAME, { from: { dir: h.root, name: 'a' }, to: { dir: other, name: 'b' } });
    expect(r.status).toBe(NfsStat3.NFS3ERR_XDEV);
  });
});

describe('arbitrary argument bytes', () => {
  it('give a reply or an XdrError from every procedure, never another exception', async () => {
    const h = new Harness();
    const root = h.root;
    // Half the inputs start with a valid handle so decoding gets past it and into the handler.
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([new XdrWriter().opaque(root).bytes(), Buffer.from(b)])),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 21 }), input, async (proc, bytes) => {
        try {
          const reply = await rawCall(h.nfs, proc, bytes);
          const spec = NFS3_PROCEDURES[proc];
          if (spec !== undefined) {
            const r = new XdrReader(reply);
            const res = spec.decodeRes(r) as { status: NfsStat3 };
            r.expectEnd();
            expect(res.status).not.toBe(NfsStat3.NFS3ERR_SERVERFAULT);
          }
        } catch (err) {
          expect(err).toBeInstanceOf(XdrError);
        }
      }),
      { numRuns: 400 },
    );
    expect(h.logs.filter((l) => l.level === 'error')).toEqual([]);
  });
});
