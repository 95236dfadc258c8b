/**
 * Goal: export client patterns match exactly the addresses they name (v4, v6, CIDR, '*'),
 * bad patterns fail closed, and squashing maps ids as knfsd does. Method: tables built from
 * configs and probed with addresses inside, at the edges of, and outside each pattern.
 */
import { describe, expect, it } from 'vitest';
import { clientAllowed, ExportTable, squash } from './exports';
import { defaultExport } from './testing/harness';

describe('export client matching', () => {
  const table = new ExportTable([defaultExport({ clients: ['10.1.0.0/16', '192.168.0.7', '2001:db8::/32', 'nonsense', '10.0.0.0/99'] })]);
  const e = table.byExportPath('/fs/') as NonNullable<ReturnType<typeof table.byExportPath>>;

  it('matches CIDRs and single addresses of both families', () => {
    for (const a of ['10.1.0.0', '10.1.255.255', '192.168.0.7', '2001:db8::1', '2001:db8:ffff::']) expect(clientAllowed(e, a, 2000)).toBe(true);
    for (const a of ['10.2.0.1', '192.168.0.8', '2001:db9::1', '::1', 'not-an-ip']) expect(clientAllowed(e, a, 2000)).toBe(false);
  });

  it('gives the same verdicts when asked again, including past the verdict cache bound', () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5000; i++) {
        const a = `10.${i % 3}.${(i >> 8) & 255}.${i & 255}`;
        expect(clientAllowed(e, a, 2000)).toBe(i % 3 === 1);
      }
      expect(clientAllowed(e, 'not-an-ip', 2000)).toBe(false);
      expect(clientAllowed(e, '192.168.0.7', 2000)).toBe(true);
    }
  });

  it('reports unparsable patterns and never matches them', () => {
    expect(table.problems).toHaveLength(2);
  });

  it("'*' matches everyone; secure needs a privileged port", () => {
    const t = new ExportTable([defaultExport({ clients: ['*'], secure: true })]);
    const any = t.entries[0] as (typeof t.entries)[number];
    expect(clientAllowed(any, '8.8.8.8', 1023)).toBe(true);
    expect(clientAllowed(any, '8.8.8.8', 1024)).toBe(false);
  });
});

describe('squash', () => {
  const caller = { uid: 0, gid: 0, gids: [0, 5] };
  it('root_squash maps uid 0 and gid 0 only', () => {
    expect(squash(defaultExport({ rootSquash: true }), caller)).toEqual({ uid: 65534, gid: 65534, gids: [65534, 5] });
    expect(squash(defaultExport({ rootSquash: true }), { uid: 5, gid: 6, gids: [] })).toEqual({ uid: 5, gid: 6, gids: [] });
    expect(squash(defaultExport(), caller)).toEqual(caller);
  });
  it('all_squash and AUTH_NONE give the anonymous ids', () => {
    expect(squash(defaultExport({ allSquash: true, anonUid: 9, anonGid: 8 }), { uid: 5, gid: 6, gids: [7] })).toEqual({ uid: 9, gid: 8, gids: [] });
    expect(squash(defaultExport({ anonUid: 9, anonGid: 8 }), undefined)).toEqual({ uid: 9, gid: 8, gids: [] });
  });
});
