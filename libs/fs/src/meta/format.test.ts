// Goal: pin the on-disk bytes of the superblock, a B+tree page and log records (format 1 and
// 2), so a format change cannot slip in unnoticed, show their decoders never crash on
// arbitrary bytes, and that format leaves the whole log region zeroed.
// Method: encode fixed values and compare with hex fixtures checked by hand against
// libs/fs/FORMAT-meta.md, decode the fixtures back, and feed fast-check bytes to each decoder.
import { crc32c } from '@node-rs/crc32';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Node, verifyPage } from './btree';
import { LOG_START_BLOCK, PAGE_BYTES } from './layout';
import { formatVolume, openVolume, readSuperblock } from './meta-volume';
import { decodeSuperblock, encodeSuperblock, type Superblock } from './superblock';
import { decodeTx, encodeTx, readLog, sealInto, sealRecord } from './wal';
import { MemorySpace } from './testing/memory-space';
import { CorruptionError } from './volume';

const SB_FIXTURE: Superblock = {
  seq: 5n,
  volumeId: 0x1122334455667788n,
  epoch: 2n,
  logGen: 9n,
  maxBytes: 1 << 30,
  rootBlock: 1000,
  checkpointLsn: 77n,
  logStartBlock: 4,
  logBlocks: 64,
  logPosBytes: 1536,
  logLsn: 70n,
  pageBytes: 16384,
  groupBlocks: 32256,
  groupsPersisted: 1,
  treeHeight: 2,
  createdNs: 1700000000000000000n,
  formatSalt: 0xabcdefn,
};
/** Format 1 superblock: still decoded (volumes formatted before format 2 open). */
const SB_HEX =
  '464d5342f717f263010000000010000005000000000000008877665544332211020000000000000009000000000000000000004000000000' +
  'e8030000000000004d00000000000000040000000000000040000000000000000006000000000000460000000000000000400000007e0000' +
  '010000000200000000002a36fe9c9717efcdab0000000000';
/** Format 2 superblock: the same fields; version 2 says the log may hold LOG_TX_DATA records. */
const SB2_HEX =
  '464d53428c1d3eac020000000010000005000000000000008877665544332211020000000000000009000000000000000000004000000000' +
  'e8030000000000004d00000000000000040000000000000040000000000000000006000000000000460000000000000000400000007e0000' +
  '010000000200000000002a36fe9c9717efcdab0000000000';
const PAGE_HEX =
  '464d50473e84f9c601000200380000004d00000000000000e803000000000000efcdab00000000002c00320001000100617802000000626300000000000000000000000000000000';
const LOG_HEX =
  '6c1cfda4464c4f4728000000010100002a00000000000000020000000000000009000000000000000100000001000000010000000000000001000200' +
  '00006b7676010064001000000000000002000000';
/** Format 2 transaction record with data checksums (kind 3): the v1 payload, then u32 runs and
 * per run u64 block, u32 count, count × u32 crc32c. */
const LOG2_HEX =
  'ee1fe4a8464c4f473d000000030100002b00000000000000020000000000000009000000000000000100000000000000010000000000000001000200' +
  '00006b7676001000000000000002000000010000000010000000000000020000004433221188776655';

function regionOf(bytes: Buffer): { sizeBytes: number; read: (b: Buffer, pos: number) => Promise<void> } {
  return { sizeBytes: bytes.length, read: async (b, pos) => void bytes.copy(b, 0, pos, pos + b.length) };
}

describe('superblock format v1 and v2', () => {
  it('encodes (version 2) to the pinned bytes, zero after them', () => {
    const b = encodeSuperblock(SB_FIXTURE);
    expect(b.length).toBe(4096);
    expect(b.subarray(0, SB2_HEX.length / 2).toString('hex')).toBe(SB2_HEX);
    expect(b.subarray(SB2_HEX.length / 2).every((x) => x === 0)).toBe(true);
    expect(b.readUInt32LE(4)).toBe(crc32c(b.subarray(8, 256)));
  });
  it('decodes the pinned bytes of version 1 and of version 2', () => {
    for (const hex of [SB_HEX, SB2_HEX]) {
      const b = Buffer.alloc(4096);
      Buffer.from(hex, 'hex').copy(b);
      expect(decodeSuperblock(b)).toEqual(SB_FIXTURE);
    }
  });
  it('rejects a flipped bit, a bad magic and a newer version without throwing', () => {
    const b = encodeSuperblock(SB_FIXTURE);
    b[20]! ^= 1;
    expect(decodeSuperblock(b)).toBe('checksum mismatch');
    const c = encodeSuperblock(SB_FIXTURE);
    c[0] = 0;
    expect(decodeSuperblock(c)).toBe('bad magic');
    const d = encodeSuperblock(SB_FIXTURE);
    d.writeUInt32LE(3, 8);
    d.writeUInt32LE(crc32c(d.subarray(8, 256)), 4);
    expect(decodeSuperblock(d)).toBe('unsupported format version 3');
    d.writeUInt32LE(0, 8);
    d.writeUInt32LE(crc32c(d.subarray(8, 256)), 4);
    expect(decodeSuperblock(d)).toBe('unsupported format version 0');
  });
});

describe('page format v1', () => {
  const leaf = (): Node => {
    const n = Node.emptyLeaf();
    n.keys!.push(Buffer.from('a'), Buffer.from('bc'));
    n.vals!.push(Buffer.from('x'), Buffer.alloc(0));
    n.count = 2;
    return n;
  };
  it('encodes a leaf header, slots and entries to the pinned bytes', () => {
    const p = leaf().encode(1000, 77n, 0xabcdefn);
    expect(p.length).toBe(PAGE_BYTES);
    expect(p.subarray(0, PAGE_HEX.length / 2).toString('hex')).toBe(PAGE_HEX);
    expect(p.subarray(PAGE_HEX.length / 2).every((x) => x === 0)).toBe(true);
  });
  it('verifies and reads back; a flipped bit is a CorruptionError naming the page', () => {
    const p = leaf().encode(1000, 77n, 0xabcdefn);
    verifyPage(p, 1000, 0xabcdefn);
    const n = Node.clean(p, 1000);
    expect(n.keyAt(1).toString()).toBe('bc');
    expect(n.valAt(0).toString()).toBe('x');
    p[5000]! ^= 0x10;
    expect(() => verifyPage(p, 1000, 0xabcdefn)).toThrow(CorruptionError);
    expect(() => verifyPage(p, 1000, 0xabcdefn)).toThrow('page 1000: checksum mismatch');
  });
  it('refuses a page read at another address (misdirected write)', () => {
    const p = leaf().encode(1000, 77n, 0xabcdefn);
    expect(() => verifyPage(p, 1004, 0xabcdefn)).toThrow('page 1004: page claims block 1000');
  });
});

describe('log record format v1', () => {
  it('encodes a transaction record to the pinned bytes and decodes it back', async () => {
    const e = encodeTx({ puts: [[Buffer.from('k'), Buffer.from('vv')]], dels: [Buffer.from('d')], allocated: [{ block: 4096, count: 2 }], freed: [] });
    sealRecord(e.rec, 1, 1, 42n, 2n, 9n);
    expect(e.rec.toString('hex')).toBe(LOG_HEX);
    const d = decodeTx(e.rec.subarray(40), 42n);
    expect(d.puts.map(([k, v]) => [k.toString(), v.toString()])).toEqual([['k', 'vv']]);
    expect(d.dels.map((k) => k.toString())).toEqual(['d']);
    expect(d.allocated).toEqual([{ block: 4096, count: 2 }]);
    // Read back through the log reader: one record, then the zeroed sector ends the log.
    const region = Buffer.alloc(8192);
    Buffer.from(LOG_HEX, 'hex').copy(region);
    const seen: bigint[] = [];
    const end = await readLog({ sizeBytes: region.length, read: async (b, pos) => void region.copy(b, 0, pos, pos + b.length) }, 0, 42n, 2n, 9n, (r) => void seen.push(r.lsn));
    expect(seen).toEqual([42n]);
    expect(end).toMatchObject({ posBytes: 512, nextLsn: 43n });
    // Another epoch or log generation is the end of the log, not a record.
    const none: bigint[] = [];
    await readLog({ sizeBytes: region.length, read: async (b, pos) => void region.copy(b, 0, pos, pos + b.length) }, 0, 42n, 3n, 9n, (r) => void none.push(r.lsn));
    expect(none).toEqual([]);
  });
  it('format 2: a record with data checksums encodes to the pinned bytes and reads back', async () => {
    const e = encodeTx({ puts: [[Buffer.from('k'), Buffer.from('vv')]], dels: [], allocated: [{ block: 4096, count: 2 }], freed: [] });
    const before = Buffer.from(e.rec);
    const region = Buffer.alloc(8192);
    const n = sealInto(region, 0, e.rec, [{ block: 4096, crcs: [0x11223344, 0x55667788] }], 1, 43n, 2n, 9n);
    expect(region.subarray(0, n).toString('hex')).toBe(LOG2_HEX);
    expect(e.rec.subarray(40).equals(before.subarray(40))).toBe(true); // the tree's views stay as they were
    const seen: Array<{ lsn: bigint; data: unknown; puts: string[] }> = [];
    const end = await readLog(regionOf(region), 0, 43n, 2n, 9n, (r) => void seen.push({ lsn: r.lsn, data: r.tx.data, puts: r.tx.puts.map(([k]) => k.toString()) }));
    expect(seen).toEqual([{ lsn: 43n, data: [{ block: 4096, crcs: [0x11223344, 0x55667788] }], puts: ['k'] }]);
    expect(end).toMatchObject({ posBytes: 512, nextLsn: 44n });
    // Without runs, sealInto writes exactly the format 1 record (kind 1).
    const v1 = encodeTx({ puts: [[Buffer.from('k'), Buffer.from('vv')]], dels: [Buffer.from('d')], allocated: [{ block: 4096, count: 2 }], freed: [] });
    const out = Buffer.alloc(512);
    expect(out.subarray(0, sealInto(out, 0, v1.rec, undefined, 1, 42n, 2n, 9n)).toString('hex')).toBe(LOG_HEX);
  });

  it('a record whose data fails ends the log; a later batch after it is corruption', async () => {
    // Batch 1: records 10 (data) and 11; batch 2: record 12.
    const region = Buffer.alloc(8192);
    const rec = (lsn: bigint, runs: boolean, last: boolean, at: number): number =>
      at + sealInto(region, at, encodeTx({ puts: [[Buffer.from(`k${lsn}`), Buffer.from('v')]], dels: [] }).rec, runs ? [{ block: 100, crcs: [1] }] : undefined, last ? 1 : 0, lsn, 1n, 1n);
    const b1 = rec(11n, false, true, rec(10n, true, false, 0));
    const b2 = rec(12n, false, true, 512);
    expect(b1).toBeLessThan(512);
    expect(b2).toBeGreaterThan(512);
    // All good: three records.
    const all: bigint[] = [];
    await readLog(regionOf(region), 0, 10n, 1n, 1n, (r) => void all.push(r.lsn));
    expect(all).toEqual([10n, 11n, 12n]);
    // Data of 10 bad, batch 2 present: batch 1's sync completed, so the data was lost after it.
    const err = await readLog(regionOf(region), 0, 10n, 1n, 1n, (r) => r.lsn !== 10n).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toMatch(/^log record 10: file data does not match/);
    // Without batch 2 (never written): the log ends before record 10, which is not replayed.
    region.fill(0, 512);
    const got: bigint[] = [];
    const end = await readLog(regionOf(region), 0, 10n, 1n, 1n, (r) => (got.push(r.lsn), r.lsn !== 10n));
    expect(got).toEqual([10n]);
    expect(end).toMatchObject({ posBytes: 0, nextLsn: 10n });
  });

  it('a payload whose counts do not add up is corruption, not a crash', () => {
    const bad = Buffer.alloc(20);
    bad.writeUInt32LE(1000, 0);
    expect(() => decodeTx(bad, 1n)).toThrow(CorruptionError);
  });
});

describe('formatVolume', () => {
  it('writes zeros over the whole log region, so a sparse file has it allocated from the start', async () => {
    const space = new MemorySpace(4 * 1024 * 1024, 1, 1);
    space.slices[0]!.fill(0xa5); // an earlier owner's bytes
    const logBytes = 512 * 1024;
    await formatVolume(space, { volumeId: 1n, maxBytes: space.sizeBytes, logBytes });
    const { sb } = await readSuperblock(space);
    expect(sb.logStartBlock).toBe(LOG_START_BLOCK);
    expect(sb.logBlocks * 4096).toBe(logBytes);
    const log = space.slices[0]!.subarray(LOG_START_BLOCK * 4096, LOG_START_BLOCK * 4096 + logBytes);
    expect(log.every((b) => b === 0)).toBe(true);
    // Only the log (and the few blocks format writes): the end of the space keeps its bytes.
    expect(space.slices[0]![space.sizeBytes - 1]).toBe(0xa5);
    const vol = await openVolume(space, { checkpointIntervalMs: 0 });
    expect(vol.replayedRecords).toBe(0);
    await vol.close();
  });
});

describe('decoders on arbitrary bytes', () => {
  it('give a value or a clean error, never a crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.integer({ min: 0, max: 16383 }), (bytes, at) => {
        const b = Buffer.from(bytes);
        const sb = Buffer.alloc(4096);
        b.copy(sb);
        expect(['string', 'object']).toContain(typeof decodeSuperblock(sb));
        // A page with a valid checksum over garbage structure must still be refused cleanly.
        const p = Buffer.alloc(PAGE_BYTES);
        b.copy(p, Math.min(at, PAGE_BYTES - b.length));
        p.writeUInt32LE(0x47504d46, 0);
        p.writeBigUInt64LE(7n, 24);
        p.writeUInt32LE(crc32c(p.subarray(8)), 4);
        try {
          verifyPage(p, 7, 0n);
        } catch (e) {
          expect(e).toBeInstanceOf(CorruptionError);
        }
        for (const kind of [1, 3])
          try {
            decodeTx(b, 1n, kind);
          } catch (e) {
            expect(e).toBeInstanceOf(CorruptionError);
          }
      }),
      { numRuns: 2000 },
    );
  });

  it('a page that passes verification only yields entries inside the page', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (count, junk) => {
        const p = Buffer.alloc(PAGE_BYTES);
        p.writeUInt32LE(0x47504d46, 0);
        p[8] = 1;
        p.writeUInt16LE(count, 10);
        p.writeUInt32LE(40 + 2 * count + 64, 12);
        p.writeBigUInt64LE(3n, 24);
        Buffer.from(junk).copy(p, 40);
        p.writeUInt32LE(crc32c(p.subarray(8)), 4);
        let ok = true;
        try {
          verifyPage(p, 3, 0n);
        } catch {
          ok = false;
        }
        if (ok) {
          const n = Node.clean(p, 3);
          for (let i = 0; i < n.count; i++) {
            expect(n.keyAt(i).byteOffset - p.byteOffset + n.keyAt(i).length).toBeLessThanOrEqual(PAGE_BYTES);
            expect(n.valAt(i).length).toBeLessThanOrEqual(PAGE_BYTES);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
