// Goal: reply records (`recordReply`) survive a clean close and a crash once the metadata
// transaction that follows the operation they answer is durable, stay within their bounds on
// the volume, and never cost the operation a wait. Method: drive the engine over the in-memory
// volume (crash copies at seeded points, fast-check) and over the real metadata volume on a
// crash-simulating space (power cuts), reopen, and compare what survived with what was recorded;
// the value codec is pinned by golden bytes and fuzzed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FileType, type FileSystem, type ReplyBuilder } from '../api';
import { checkFileSystem } from '../fsck/check';
import { formatVolume, openVolume } from '../meta/meta-volume';
import { CrashSpace, seededBytes, seededRandom } from '../meta/testing/crash-space';
import { verifyVolume } from '../meta/verify';
import { MemoryVolume } from '../testing/memory-volume';
import { formatFileSystem, openFileSystem } from './format';
import { KeyPrefix, LayoutError, MAX_REPLY_RECORD_BYTES, decodeReply, encodeReply, prefixRange, replyKey } from './layout';
import { makeFs, owner, reopen, tickingClock } from './test-helpers';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function rec(i: number): { key: Buffer; reply: Buffer } {
  return { key: Buffer.from(`key-${i}`), reply: Buffer.alloc(100 + (i % 50), i & 0xff) };
}

function asStrings(fs: FileSystem): string[] {
  return fs.replyRecords().map((r) => `${r.key.toString()}:${r.reply.length}:${r.reply[0] ?? -1}`);
}

function expected(from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    const r = rec(i);
    out.push(`${r.key.toString()}:${r.reply.length}:${r.reply[0]}`);
  }
  return out;
}

async function volumeReplyKeys(v: { scan: MemoryVolume['scan'] }): Promise<number> {
  const [from, to] = prefixRange(KeyPrefix.REPLY);
  let n = 0;
  await v.scan(from, to, () => {
    n++;
    return true;
  });
  return n;
}

describe('reply record codec', () => {
  it('pins the value layout: version 1, key length u16 BE, key, reply', () => {
    const v = encodeReply(Buffer.from('kk'), Buffer.from([0xde, 0xad]));
    expect(v.toString('hex')).toBe('010002' + '6b6b' + 'dead');
    expect(replyKey(0x0102n).toString('hex')).toBe('050000000000000102');
    const d = decodeReply(v);
    expect(d.key.toString()).toBe('kk');
    expect(d.reply).toEqual(Buffer.from([0xde, 0xad]));
  });

  it('round-trips any key and reply within the limit, and refuses more', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.uint8Array({ maxLength: 600 }), (k, r) => {
        const d = decodeReply(encodeReply(Buffer.from(k), Buffer.from(r)));
        expect(d.key).toEqual(Buffer.from(k));
        expect(d.reply).toEqual(Buffer.from(r));
      }),
    );
    expect(() => encodeReply(Buffer.alloc(10), Buffer.alloc(MAX_REPLY_RECORD_BYTES - 9))).toThrow(RangeError);
    expect(() => encodeReply(Buffer.alloc(0), Buffer.alloc(1))).toThrow(RangeError);
    expect(encodeReply(Buffer.alloc(10), Buffer.alloc(MAX_REPLY_RECORD_BYTES - 10)).length).toBe(4096);
  });

  it('decodes arbitrary bytes to a record or a LayoutError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          const d = decodeReply(Buffer.from(b));
          expect(d.key.length).toBeGreaterThan(0);
          expect(3 + d.key.length + d.reply.length).toBe(b.length);
        } catch (e) {
          expect(e).toBeInstanceOf(LayoutError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('reply records in the engine', () => {
  it('a filesystem without records (as formatted before them) opens with none', async () => {
    const { fs, volume, clock } = await makeFs();
    expect(fs.replyRecords()).toEqual([]);
    await fs.mkdir(fs.root, 'd', {}, owner);
    await fs.close();
    const fs2 = await reopen(volume, clock);
    expect(fs2.replyRecords()).toEqual([]);
    expect(await volumeReplyKeys(volume)).toBe(0);
  });

  it('refuses a record beyond the value limit with a RangeError and keeps nothing of it', async () => {
    const { fs } = await makeFs();
    expect(() => fs.recordReply(Buffer.alloc(8), Buffer.alloc(MAX_REPLY_RECORD_BYTES))).toThrow(RangeError);
    expect(fs.replyRecords()).toEqual([]);
  });

  it('survives a clean close in record order, and fsck counts them', async () => {
    const { fs, volume, clock } = await makeFs();
    for (let i = 0; i < 20; i++) {
      const c = await fs.create(fs.root, `f${i}`, { how: 'guarded', attrs: {} }, owner);
      expect(c.attr.nlink).toBe(1);
      fs.recordReply(rec(i).key, rec(i).reply);
    }
    expect(asStrings(fs)).toEqual(expected(0, 20));
    await fs.close();
    const rep = await checkFileSystem(volume);
    expect(rep.problems).toEqual([]);
    expect(rep.counts.replyRecords).toBe(20);
    const fs2 = await reopen(volume, clock);
    expect(asStrings(fs2)).toEqual(expected(0, 20));
    // New records continue the sequence after the survivors.
    fs2.recordReply(rec(20).key, rec(20).reply);
    await fs2.close();
    expect(asStrings(await reopen(volume, clock))).toEqual(expected(0, 21));
  });

  it('rides in the next operation: a record staged between two operations adds no log sync', async () => {
    const { fs, volume } = await makeFs();
    await fs.mkdir(fs.root, 'warm', {}, owner);
    const syncs0 = volume.syncCount;
    for (let i = 0; i < 50; i++) {
      await fs.create(fs.root, `f${i}`, { how: 'guarded', attrs: {} }, owner);
      fs.recordReply(rec(i).key, rec(i).reply);
    }
    // One sync per create, none for the records (each rode in the next create's transaction).
    expect(volume.syncCount - syncs0).toBe(50);
    await fs.flush();
    expect(await volumeReplyKeys(volume)).toBe(50);
  });

  it('becomes durable by itself when no operation follows (the last call before a kill)', async () => {
    const { fs, volume, clock } = await makeFs();
    const c = await fs.create(fs.root, 'only', { how: 'guarded', attrs: {} }, owner);
    expect(c.attr.type).toBe(1);
    fs.recordReply(rec(1).key, rec(1).reply);
    for (let t = 0; t < 3; t++) await turn();
    const crashed = volume.crashCopy();
    expect((await checkFileSystem(crashed)).problems).toEqual([]);
    expect(asStrings(await reopen(crashed, clock))).toEqual(expected(1, 2));
  });

  it('repliesDurable() resolves only once the records are on the log, staged or not, with operations racing it', async () => {
    const { fs, volume, clock } = await makeFs();
    await fs.create(fs.root, 'a', { how: 'guarded', attrs: {} }, owner);
    fs.recordReply(rec(1).key, rec(1).reply);
    await fs.repliesDurable(); // not staged yet: a transaction of its own
    expect(asStrings(await reopen(volume.crashCopy(), clock))).toEqual(expected(1, 2));
    // Staged by an operation still in progress when asked.
    fs.recordReply(rec(2).key, rec(2).reply);
    const op = fs.create(fs.root, 'b', { how: 'guarded', attrs: {} }, owner);
    await fs.repliesDurable();
    expect(asStrings(await reopen(volume.crashCopy(), clock))).toEqual(expected(1, 3));
    await op;
    await fs.repliesDurable(); // nothing new: resolves at once
  });

  it('keeps only the newest records within the count and byte bounds, on the volume too', async () => {
    const volume = new MemoryVolume();
    const clock = tickingClock();
    await formatFileSystem(volume, { fsid: 7n, clock });
    const open = (): Promise<FileSystem> => openFileSystem(volume, { fsid: 7n, clock, random: seededBytes(1), replyRecordsMax: 10, replyBytesMax: 64 * 1024 });
    const fs = await open();
    for (let i = 0; i < 25; i++) {
      await fs.mkdir(fs.root, `d${i}`, {}, owner);
      fs.recordReply(rec(i).key, rec(i).reply);
    }
    expect(asStrings(fs)).toEqual(expected(15, 25));
    await fs.close();
    expect(await volumeReplyKeys(volume)).toBe(10);
    expect(asStrings(await open())).toEqual(expected(15, 25));
    const fs2 = await openFileSystem(volume, { fsid: 7n, clock, random: seededBytes(1), replyRecordsMax: 1000, replyBytesMax: 64 * 1024 });
    expect(asStrings(fs2)).toEqual(expected(15, 25));
    // Bytes: 3000-byte replies, 64 KiB allow 21 of them (9 + 3 + 6 + 3000 bytes each).
    for (let i = 0; i < 30; i++) fs2.recordReply(Buffer.from(`big-${i}`), Buffer.alloc(3000, i));
    const kept = fs2.replyRecords();
    expect(kept.length).toBe(Math.floor((64 * 1024) / (9 + 3 + 6 + 3000)));
    expect(kept[kept.length - 1]!.key.toString()).toBe('big-29');
    await fs2.close();
    expect(await volumeReplyKeys(volume)).toBe(kept.length);
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('a record that does not decode is reported by fsck, skipped at open and deleted', async () => {
    const { fs, volume, clock } = await makeFs();
    fs.recordReply(rec(0).key, rec(0).reply);
    await fs.close();
    volume.rawPut(replyKey(1n), Buffer.from([9, 9, 9, 9]));
    expect((await checkFileSystem(volume)).problems.join()).toMatch(/reply record version/);
    const fs2 = await reopen(volume, clock);
    expect(asStrings(fs2)).toEqual(expected(0, 1));
    await fs2.close();
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('after a crash at a random point: survivors are a contiguous run of what was recorded, every record covered by a later durable operation among them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 1000 }), async (ops, ticks, seed) => {
        const volume = new MemoryVolume();
        const clock = tickingClock();
        await formatFileSystem(volume, { fsid: 7n, clock });
        const fs = await openFileSystem(volume, { fsid: 7n, clock, random: seededBytes(seed), replyRecordsMax: 16 });
        const rnd = seededRandom(seed);
        let recorded = 0;
        // Records a durable operation started after them covers (its durable covers every LSN before).
        let covered = 0;
        const work = (async () => {
          for (let i = 0; i < ops; i++) {
            const before = recorded;
            const name = `f${Math.floor(rnd() * 8)}`;
            // A failed operation applies nothing, so it covers nothing either.
            const ok =
              rnd() < 0.5
                ? await fs.create(fs.root, name, { how: 'guarded', attrs: {} }, owner).then(() => true, () => false)
                : await fs.remove(fs.root, name).then(() => true, () => false);
            if (ok) covered = before;
            fs.recordReply(rec(recorded).key, rec(recorded).reply);
            recorded++;
          }
        })();
        for (let t = 0; t < ticks; t++) await turn();
        const crashed = volume.crashCopy();
        const coveredAtCrash = covered;
        await work;
        expect((await checkFileSystem(crashed)).problems).toEqual([]);
        const got = asStrings(await reopen(crashed, clock));
        if (got.length > 0) {
          const first = Number(/^key-(\d+):/.exec(got[0]!)![1]);
          expect(got).toEqual(expected(first, first + got.length));
          expect(got.length).toBeLessThanOrEqual(16);
        }
        // Everything covered and within the bound survived.
        const lastCovered = coveredAtCrash - 1;
        if (lastCovered >= 0) expect(got).toContain(expected(lastCovered, lastCovered + 1)[0]);
      }),
      { numRuns: 60 },
    );
  });
});

describe('a reply kept with its operation (ReplyBuilder)', () => {
  /** A builder that keeps `key` with a reply naming the result, and remembers what it saw. */
  function keeping<R>(key: string, seen: R[]): ReplyBuilder<R> {
    return (r) => {
      seen.push(r);
      return { key: Buffer.from(key), reply: Buffer.from(JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) };
    };
  }

  it('every modifying operation writes its reply in its own transaction: a crash the moment it resolves keeps both', async () => {
    const { fs, volume, clock } = await makeFs();
    const f = await fs.create(fs.root, 'f', { how: 'guarded', attrs: {} }, owner);
    const ref = { ino: f.attr.ino, generation: f.attr.generation };
    await fs.write(ref, 0n, Buffer.alloc(10_000, 7), 2);
    const d = await fs.mkdir(fs.root, 'd', {}, owner);
    const dref = { ino: d.attr.ino, generation: d.attr.generation };
    await fs.mkdir(fs.root, 'gone', {}, owner);
    await fs.create(fs.root, 'victim', { how: 'guarded', attrs: {} }, owner);
    const ops: Array<[string, (answer: ReplyBuilder<unknown>) => Promise<unknown>]> = [
      ['setattr', (a) => fs.setattr(ref, { mode: 0o600 }, undefined, a)],
      ['truncate', (a) => fs.setattr(ref, { size: 5000n }, undefined, a)],
      ['create', (a) => fs.create(fs.root, 'c', { how: 'guarded', attrs: {} }, owner, a)],
      ['create-unchecked-truncating', (a) => fs.create(fs.root, 'f', { how: 'unchecked', attrs: { size: 100n } }, owner, a)],
      ['create-exclusive', (a) => fs.create(fs.root, 'x', { how: 'exclusive', verifier: Buffer.alloc(8, 3) }, owner, a)],
      ['create-exclusive-again', (a) => fs.create(fs.root, 'x', { how: 'exclusive', verifier: Buffer.alloc(8, 3) }, owner, a)],
      ['mkdir', (a) => fs.mkdir(dref, 'sub', {}, owner, a)],
      ['symlink', (a) => fs.symlink(fs.root, 'l', 'f', {}, owner, a)],
      ['mknod', (a) => fs.mknod(fs.root, 'p', FileType.FIFO, { major: 0, minor: 0 }, {}, owner, a)],
      ['link', (a) => fs.link(ref, dref, 'hard', a)],
      ['rename', (a) => fs.rename(fs.root, 'c', dref, 'moved', a)],
      ['rename-over', (a) => fs.rename(fs.root, 'l', fs.root, 'victim', a)],
      ['remove', (a) => fs.remove(dref, 'moved', a)],
      ['rmdir', (a) => fs.rmdir(fs.root, 'gone', a)],
    ];
    const keys: string[] = [];
    for (const [name, op] of ops) {
      const seen: unknown[] = [];
      const result = await op(keeping(name, seen));
      // Built once, from exactly the result the operation resolved with.
      expect(seen).toEqual([result]);
      keys.push(name);
      const crashed = await reopen(volume.crashCopy(), clock);
      expect(crashed.replyRecords().map((r) => r.key.toString())).toEqual(keys);
      const last = crashed.replyRecords().at(-1)!;
      expect(JSON.parse(last.reply.toString())).toEqual(JSON.parse(JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))));
      await crashed.close();
    }
    // The truncating UNCHECKED create answers with the size it set.
    const trunc = fs.replyRecords().find((r) => r.key.toString() === 'create-unchecked-truncating')!;
    expect(JSON.parse(trunc.reply.toString()).attr.size).toBe('100');
    expect((await fs.getattr(ref)).size).toBe(100n);
    await fs.close();
    expect((await checkFileSystem(volume)).problems).toEqual([]);
  });

  it('after a crash at any point, a change is on the volume exactly when its reply is, with operations and late records racing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 1_000_000 }), async (ops, ticks, seed) => {
        const { fs, volume, clock } = await makeFs();
        const rnd = seededRandom(seed);
        const created: number[] = [];
        let late = 0;
        const worker = async (w: number): Promise<void> => {
          for (let i = 0; i < ops; i++) {
            const n = w * 1000 + i;
            if (created.length > 0 && rnd() < 0.4) {
              const victim = created.splice(Math.floor(rnd() * created.length), 1)[0]!;
              await fs.remove(fs.root, `f${victim}`, () => ({ key: Buffer.from(`r${victim}`), reply: Buffer.alloc(8) }));
            } else {
              await fs.create(fs.root, `f${n}`, { how: 'guarded', attrs: {} }, owner, () => ({ key: Buffer.from(`c${n}`), reply: Buffer.alloc(8) }));
              created.push(n);
            }
            // A reply recorded afterwards (the fallback path) now and then.
            if (rnd() < 0.3) fs.recordReply(Buffer.from(`late${late++}`), Buffer.alloc(4));
          }
        };
        const work = Promise.all([worker(1), worker(2), worker(3)]);
        for (let t = 0; t < ticks; t++) await turn();
        const crashed = volume.crashCopy();
        await work;
        expect((await checkFileSystem(crashed)).problems).toEqual([]);
        const fs2 = await reopen(crashed, clock);
        const kept = new Set(fs2.replyRecords().map((r) => r.key.toString()));
        const names = new Set<string>();
        await fs2.readdir(fs2.root, 0n, false, (e) => {
          names.add(e.name);
          return true;
        });
        for (const w of [1, 2, 3]) {
          for (let i = 0; i < ops; i++) {
            const n = w * 1000 + i;
            // Created and not removed on the volume <=> its create's reply and not its remove's.
            expect(names.has(`f${n}`)).toBe(kept.has(`c${n}`) && !kept.has(`r${n}`));
            if (kept.has(`r${n}`)) expect(kept.has(`c${n}`)).toBe(true);
          }
        }
        await fs.close();
      }),
      { numRuns: 80 },
    );
  });

  it('a builder that keeps nothing or throws leaves the operation standing and keeps no record', async () => {
    const warnings: unknown[] = [];
    const logger = { debug: () => undefined, info: () => undefined, warn: (o: object) => void warnings.push(o), error: () => undefined };
    const { fs, volume, clock } = await makeFs({}, { logger });
    await fs.mkdir(fs.root, 'a', {}, owner, () => undefined);
    await fs.mkdir(fs.root, 'b', {}, owner, () => {
      throw new Error('encoder bug');
    });
    await fs.mkdir(fs.root, 'c', {}, owner, () => ({ key: Buffer.alloc(8), reply: Buffer.alloc(MAX_REPLY_RECORD_BYTES) }));
    expect(warnings).toHaveLength(2);
    expect(fs.replyRecords()).toEqual([]);
    const fs2 = await reopen(volume.crashCopy(), clock);
    expect(fs2.replyRecords()).toEqual([]);
    expect((await fs2.lookup(fs2.root, 'c')).attr.type).toBe(FileType.DIR);
  });

  it('a transaction that fails to apply keeps no record of its reply', async () => {
    const { fs, volume, clock } = await makeFs();
    const apply = volume.apply.bind(volume);
    volume.apply = () => Promise.reject(new Error('log device gone'));
    await expect(fs.mkdir(fs.root, 'a', {}, owner, () => ({ key: Buffer.from('a'), reply: Buffer.alloc(4) }))).rejects.toThrow(/log device gone/);
    volume.apply = apply;
    expect(fs.replyRecords()).toEqual([]);
    await fs.mkdir(fs.root, 'b', {}, owner, () => ({ key: Buffer.from('b'), reply: Buffer.alloc(4) }));
    expect(fs.replyRecords().map((r) => r.key.toString())).toEqual(['b']);
    await fs.close();
    expect((await reopen(volume, clock)).replyRecords().map((r) => r.key.toString())).toEqual(['b']);
  });
});

describe('reply records on the real metadata volume', () => {
  it('survive a power cut once written, and a clean close always', async () => {
    const SLICE = 2 * 1024 * 1024;
    let survivedCuts = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), async (seed) => {
        const space = new CrashSpace(SLICE, 1);
        await formatVolume(space, { volumeId: 9n, maxBytes: 8 * SLICE, logBytes: 512 * 1024, random: seededBytes(seed) });
        const volume = await openVolume(space, { cachePages: 64, checkpointIntervalMs: 0, random: seededBytes(seed + 1) });
        const clock = tickingClock();
        await formatFileSystem(volume, { fsid: 9n, clock });
        const fs = await openFileSystem(volume, { fsid: 9n, clock, random: seededBytes(seed + 2) });
        for (let i = 0; i < 10; i++) {
          await fs.mkdir(fs.root, `d${i}`, {}, owner);
          fs.recordReply(rec(i).key, rec(i).reply);
        }
        // The last record has no operation after it: it goes out on its own.
        for (let t = 0; t < 5; t++) await turn();
        const image = space.crash(seededRandom(seed));
        const s2 = CrashSpace.fromImage(image);
        const v2 = await openVolume(s2, { checkpointIntervalMs: 0, random: seededBytes(seed + 3) });
        const fs2 = await openFileSystem(v2, { fsid: 9n, clock, random: seededBytes(seed + 4) });
        expect(asStrings(fs2)).toEqual(expected(0, 10));
        survivedCuts++;
        fs2.recordReply(rec(10).key, rec(10).reply);
        await fs2.close();
        await v2.close();
        const report = await verifyVolume(s2);
        expect(report.errors).toEqual([]);
        const v3 = await openVolume(s2, { readOnly: true });
        const fs3 = await openFileSystem(v3, { fsid: 9n, clock, random: seededBytes(seed + 5) });
        expect(asStrings(fs3)).toEqual(expected(0, 11));
        expect((await checkFileSystem(v3, { volumeReport: report })).problems).toEqual([]);
      }),
      { numRuns: 15 },
    );
    expect(survivedCuts).toBe(15);
  });
});

describe('exclusive-create verifiers across a change of owner', () => {
  it('a retransmitted EXCLUSIVE create after a crash and reopen finds its file; another verifier gets EXIST', async () => {
    const { fs, volume } = await makeFs();
    const verf = Buffer.from('0123abcd', 'latin1');
    const made = await fs.create(fs.root, 'x', { how: 'exclusive', verifier: verf }, owner);
    // Acknowledged, then the owner dies: the new owner recovers from the crash image alone.
    const crashed = volume.crashCopy();
    const fs2 = await reopen(crashed, tickingClock(1_800_000_000));
    const again = await fs2.create(fs2.root, 'x', { how: 'exclusive', verifier: verf }, owner);
    expect(again.attr.ino).toBe(made.attr.ino);
    expect(again.attr.generation).toBe(made.attr.generation);
    await expect(fs2.create(fs2.root, 'x', { how: 'exclusive', verifier: Buffer.from('zzzzzzzz') }, owner)).rejects.toMatchObject({ code: 'EXIST' });
  });
});
