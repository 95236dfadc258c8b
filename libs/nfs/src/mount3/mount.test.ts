/**
 * Goal: MOUNT v3 (RFC 1813 appendix I) answers MNT by export rules and keeps a bounded mount
 * list; its XDR types are pinned by golden bytes and survive round trips and garbage.
 * Method: the mount program of a Harness run on hand-built argument bytes, with replies
 * compared to hand-built byte arrays or decoded; fast-check for the codec properties.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XdrError, XdrReader, XdrWriter } from '@ferry/xdr';
import { GETATTR } from '../nfs3/procedures';
import { NfsStat3 } from '../nfs3/xdr-types';
import { MNT_MISS_LOADS_PER_S } from './miss-budget';
import { defaultExport, FSID, Harness, rawCall } from '../testing/harness';
import { MountList } from './mount-list';
import {
  type Exportnode,
  type Mountbody,
  type Mountres3,
  MountStat3,
  readDirpath,
  writeDirpath,
  readExports,
  readMountlist,
  readMountres3,
  writeExports,
  writeMountlist,
  writeMountres3,
} from './xdr-types';

function dirpath(p: string): Buffer {
  return Buffer.from(new XdrWriter().string(p).bytes());
}

async function mnt(h: Harness, path: string, opts: { address?: string; port?: number } = {}): Promise<ReturnType<typeof readMountres3>> {
  const reply = await rawCall(h.mount, 1, dirpath(path), opts);
  const r = new XdrReader(reply);
  const res = readMountres3(r);
  r.expectEnd();
  return res;
}

describe('MOUNT golden bytes', () => {
  it('encodes mountres3 OK and an error', () => {
    const w = new XdrWriter();
    writeMountres3(w, { fhs_status: MountStat3.MNT3_OK, mountinfo: { fhandle: Buffer.from([1, 2, 3, 4, 5]), auth_flavors: [1] } });
    expect(w.bytes().toString('hex')).toBe('00000000' + '00000005' + '0102030405000000' + '00000001' + '00000001');
    const e = new XdrWriter();
    writeMountres3(e, { fhs_status: MountStat3.MNT3ERR_ACCES });
    expect(e.bytes().toString('hex')).toBe('0000000d');
  });

  it('encodes exports and mount lists as XDR linked lists', () => {
    const w = new XdrWriter();
    writeExports(w, [{ ex_dir: '/fs', ex_groups: ['*'] }]);
    expect(w.bytes().toString('hex')).toBe(
      '00000001' + '00000003' + '2f667300' + '00000001' + '00000001' + '2a000000' + '00000000' + '00000000',
    );
    const m = new XdrWriter();
    writeMountlist(m, [{ ml_hostname: '1.2.3.4', ml_directory: '/a' }]);
    expect(m.bytes().toString('hex')).toBe('00000001' + '00000007' + '312e322e332e3400' + '00000002' + '2f610000' + '00000000');
  });
});

describe('MOUNT codec properties', () => {
  const name = fc.string({ maxLength: 40 });
  it('round-trips exports and mount lists', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ ex_dir: name, ex_groups: fc.array(name, { maxLength: 4 }) }), { maxLength: 5 }), (ex: Exportnode[]) => {
        const w = new XdrWriter();
        writeExports(w, ex);
        const r = new XdrReader(Buffer.from(w.bytes()));
        expect(readExports(r)).toEqual(ex);
        r.expectEnd();
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.record({ ml_hostname: name, ml_directory: name }), { maxLength: 5 }), (ml: Mountbody[]) => {
        const w = new XdrWriter();
        writeMountlist(w, ml);
        expect(readMountlist(new XdrReader(Buffer.from(w.bytes())))).toEqual(ml);
      }),
    );
  });

  it('round-trips mountres3 and dirpath', () => {
    const res = fc.oneof(
      fc.record({
        fhs_status: fc.constant(MountStat3.MNT3_OK as const),
        mountinfo: fc.record({
          fhandle: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
          auth_flavors: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 8 }),
        }),
      }),
      fc.record({ fhs_status: fc.constantFrom(MountStat3.MNT3ERR_NOENT, MountStat3.MNT3ERR_ACCES, MountStat3.MNT3ERR_SERVERFAULT) }),
    );
    fc.assert(
      fc.property(res, fc.string({ maxLength: 100 }), (m, p) => {
        const w = new XdrWriter();
        writeMountres3(w, m as Mountres3);
        expect(readMountres3(new XdrReader(Buffer.from(w.bytes())))).toEqual(m);
        const d = new XdrWriter();
        writeDirpath(d, p);
        expect(readDirpath(new XdrReader(Buffer.from(d.bytes())))).toBe(p);
      }),
    );
  });

  it('gives a value or an XdrError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const read of [readMountres3, readExports, readMountlist, readDirpath]) {
          try {
            read(new XdrReader(Buffer.from(bytes)));
          } catch (err) {
            expect(err).toBeInstanceOf(XdrError);
          }
        }
      }),
    );
  });
});

describe('MNT', () => {
  it('answers the root handle, which then works for NFS calls', async () => {
    const h = new Harness();
    const res = await mnt(h, '/fs/');
    if (res.fhs_status !== MountStat3.MNT3_OK) throw new Error('expected MNT3_OK');
    expect(res.mountinfo.fhandle.equals(h.root)).toBe(true);
    expect(res.mountinfo.auth_flavors).toEqual([1]);
    expect((await h.call(GETATTR, { object: res.mountinfo.fhandle })).status).toBe(NfsStat3.NFS3_OK);
  });

  it('answers NOENT for an unknown path, ACCES for a client or port the export refuses', async () => {
    const h = new Harness([defaultExport({ clients: ['192.168.1.0/24', 'fd00::/8'], secure: true })]);
    expect((await mnt(h, '/nope')).fhs_status).toBe(MountStat3.MNT3ERR_NOENT);
    expect((await mnt(h, '/fs', { address: '10.0.0.5', port: 700 })).fhs_status).toBe(MountStat3.MNT3ERR_ACCES);
    expect((await mnt(h, '/fs', { address: '192.168.1.20', port: 700 })).fhs_status).toBe(MountStat3.MNT3_OK);
    expect((await mnt(h, '/fs', { address: '192.168.1.20', port: 40000 })).fhs_status).toBe(MountStat3.MNT3ERR_ACCES);
    expect((await mnt(h, '/fs', { address: 'fd12::1', port: 700 })).fhs_status).toBe(MountStat3.MNT3_OK);
    expect((await mnt(h, '/fs', { address: 'fe80::1', port: 700 })).fhs_status).toBe(MountStat3.MNT3ERR_ACCES);
  });

  it('answers NOENT for an export whose filesystem is not served here', async () => {
    const h = new Harness([defaultExport(), defaultExport({ path: '/other', fsid: FSID + 1n })]);
    expect((await mnt(h, '/other')).fhs_status).toBe(MountStat3.MNT3ERR_NOENT);
  });

  it('loads the export table again before answering NOENT for a path it does not hold', async () => {
    // An export created a moment ago: the refresher loads it, and the MNT that asked succeeds.
    let loads = 0;
    const h: Harness = new Harness([], {
      refreshExports: async () => {
        loads++;
        h.service.setExports([defaultExport({ path: '/new' })]);
      },
    });
    expect((await mnt(h, '/new')).fhs_status).toBe(MountStat3.MNT3_OK);
    expect(loads).toBe(1);
    expect((await mnt(h, '/new')).fhs_status).toBe(MountStat3.MNT3_OK); // known now: no load
    expect(loads).toBe(1);
    expect((await mnt(h, '/still-nothing')).fhs_status).toBe(MountStat3.MNT3ERR_NOENT);
    expect(loads).toBe(2);
  });

  it('loads the table again for at most MNT_MISS_LOADS_PER_S unknown paths a second', async () => {
    let loads = 0;
    const h = new Harness([], { refreshExports: async () => void loads++ });
    const answers = await Promise.all(Array.from({ length: MNT_MISS_LOADS_PER_S + 15 }, (_, i) => mnt(h, `/made-up-${i}`)));
    expect(answers.every((a) => a.fhs_status === MountStat3.MNT3ERR_NOENT)).toBe(true);
    expect(loads).toBe(MNT_MISS_LOADS_PER_S);
    expect(h.logs.filter((l) => l.level === 'warn' && /many MNTs of unknown export paths/.test(l.msg ?? ''))).toHaveLength(1);
  });

  it('answers NOENT when the export table cannot be loaded, or not in time', async () => {
    const failing = new Harness([], { refreshExports: () => Promise.reject(new Error('database down')) });
    expect((await mnt(failing, '/fs')).fhs_status).toBe(MountStat3.MNT3ERR_NOENT);
    expect(failing.logs.some((l) => l.level === 'warn' && l.msg === 'could not reload the export table for a MNT')).toBe(true);
    const hanging = new Harness([], { refreshExports: () => new Promise(() => {}), exportRefreshWaitMs: 50 });
    const t0 = Date.now();
    expect((await mnt(hanging, '/fs')).fhs_status).toBe(MountStat3.MNT3ERR_NOENT);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('refuses a path over MNTPATHLEN as malformed', async () => {
    const h = new Harness();
    await expect(rawCall(h.mount, 1, dirpath('/'.repeat(1025)))).rejects.toBeInstanceOf(XdrError);
  });
});

describe('DUMP / UMNT / UMNTALL / EXPORT', () => {
  it('tracks mounts per client and path', async () => {
    const h = new Harness([defaultExport(), defaultExport({ path: '/two' })]);
    await mnt(h, '/fs', { address: '10.0.0.1' });
    await mnt(h, '/two', { address: '10.0.0.1' });
    await mnt(h, '/fs', { address: '10.0.0.2' });
    const dump = async (): Promise<Mountbody[]> => readMountlist(new XdrReader(await rawCall(h.mount, 2, Buffer.alloc(0))));
    expect(await dump()).toHaveLength(3);
    expect(await rawCall(h.mount, 3, dirpath('/fs'), { address: '10.0.0.1' })).toHaveLength(0);
    expect(await dump()).toEqual([
      { ml_hostname: '10.0.0.1', ml_directory: '/two' },
      { ml_hostname: '10.0.0.2', ml_directory: '/fs' },
    ]);
    await rawCall(h.mount, 4, Buffer.alloc(0), { address: '10.0.0.2' });
    expect(await dump()).toEqual([{ ml_hostname: '10.0.0.1', ml_directory: '/two' }]);
  });

  it('lists exports with their client groups', async () => {
    const h = new Harness([defaultExport({ clients: ['10.0.0.0/8', '::1'] })]);
    const ex = readExports(new XdrReader(await rawCall(h.mount, 5, Buffer.alloc(0))));
    expect(ex).toEqual([{ ex_dir: '/fs', ex_groups: ['10.0.0.0/8', '::1'] }]);
  });

  it('answers EXPORT on MOUNT v1 (showmount) and refuses v1 MNT', async () => {
    const h = new Harness();
    const v1 = { ...h.mount, versions: [h.mount.versions[1] as (typeof h.mount.versions)[number]] };
    expect(v1.versions[0]?.vers).toBe(1);
    expect(readExports(new XdrReader(await rawCall(v1, 5, Buffer.alloc(0))))).toEqual([{ ex_dir: '/fs', ex_groups: ['*'] }]);
    expect((await rawCall(v1, 1, dirpath('/fs'))).toString('hex')).toBe('0000000d');
  });

  it('keeps the mount list bounded', () => {
    const l = new MountList(3);
    for (let i = 0; i < 10; i++) l.add(`10.0.0.${i}`, '/fs');
    expect(l.list().map((m) => m.ml_hostname)).toEqual(['10.0.0.7', '10.0.0.8', '10.0.0.9']);
  });
});
