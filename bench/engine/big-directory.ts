/**
 * big-directory: one directory of --entries files (default 100,000), then
 * - LOOKUP of random existing names (--in-flight concurrent), ops/s;
 * - a full READDIR, without and with attributes (READDIRPLUS), in pages of --page-bytes (default
 *   4096) worth of entries counted with the RFC 1813 §3.3.16/§3.3.17 XDR sizes the NFS layer
 *   uses: entries/s and pages/s over the whole listing;
 * - the time of one page at the start, the middle and the end of the directory (median of
 *   --page-samples repetitions each), and at 10 % and 90 %: with stable cookies resolved by key,
 *   it must not grow with position.
 *
 * Usage: node dist/bench/engine/big-directory.js [--entries 100000] [--lookups 200000]
 *        [--in-flight 16] [--page-bytes 4096] [--page-samples 200] [--dir DIR]
 */
import { join } from 'node:path';
import type { DirEntry, FileRef, FileSystem } from '@ferry/fs';
import { createFiles } from './create-files';
import {
  GiB,
  createFileSystem,
  drive,
  fail,
  fileName,
  fmtMs,
  fmtRate,
  intFlag,
  memory,
  fmtBytes,
  parseFlags,
  printJson,
  printTable,
  progress,
  scratchDir,
} from './harness';

const FLAGS = {
  entries: 'entries in the directory (default 100000)',
  lookups: 'random LOOKUPs to time (default 200000)',
  'in-flight': 'concurrent LOOKUPs (default 16)',
  'page-bytes': 'READDIR page budget in XDR bytes (default 4096)',
  'page-samples': 'repetitions of each positional page timing (default 200)',
  dir: 'scratch directory on the disk under test',
};

// RFC 1813 §3.3.16 entry3: value_follows, fileid, name<>, cookie.
function entry3Bytes(nameBytes: number): number {
  return 4 + 8 + 4 + ((nameBytes + 3) & ~3) + 8;
}
// §3.3.17 entryplus3 adds post_op_attr (bool + fattr3 of 84 bytes) and post_op_fh3 (bool +
// opaque of our 40-byte handle).
const PLUS_EXTRA_BYTES = 4 + 84 + 4 + 4 + 40;

/** A page-filling `accept` with the NFS layer's budget rule: stop at the first entry that would not fit. */
function pageBudget(pageBytes: number, withAttrs: boolean): (e: DirEntry) => boolean {
  let used = 0;
  return (e) => {
    const size = entry3Bytes(Buffer.byteLength(e.name, 'utf8')) + (withAttrs ? PLUS_EXTRA_BYTES : 0);
    if (used + size > pageBytes && used > 0) return false;
    used += size;
    return true;
  };
}

interface ListingFigures {
  entries: number;
  pages: number;
  ms: number;
  pageStartCookies: bigint[];
}

async function listAll(fs: FileSystem, dir: FileRef, withAttrs: boolean, pageBytes: number): Promise<ListingFigures> {
  const t0 = performance.now();
  let cookie = 0n;
  let entries = 0;
  const pageStartCookies: bigint[] = [];
  for (;;) {
    pageStartCookies.push(cookie);
    const r = await fs.readdir(dir, cookie, withAttrs, pageBudget(pageBytes, withAttrs));
    entries += r.entries.length;
    const last = r.entries[r.entries.length - 1];
    if (r.eof) break;
    if (!last) throw new Error(`readdir made no progress at cookie ${cookie}`);
    if (withAttrs && r.entries.some((e) => e.attr === undefined)) throw new Error('READDIRPLUS entry without attributes');
    cookie = last.cookie;
  }
  return { entries, pages: pageStartCookies.length, ms: performance.now() - t0, pageStartCookies };
}

/**
 * Median time in microseconds of reading the page that starts at each cookie. The positions are
 * interleaved round by round (after a warm-up round) so JIT warm-up and cache state favour none.
 */
async function pageTimesUs(fs: FileSystem, dir: FileRef, cookies: bigint[], withAttrs: boolean, pageBytes: number, samples: number): Promise<number[]> {
  const times: number[][] = cookies.map(() => []);
  for (let s = -1; s < samples; s++) {
    for (let p = 0; p < cookies.length; p++) {
      const t0 = performance.now();
      await fs.readdir(dir, cookies[p] ?? 0n, withAttrs, pageBudget(pageBytes, withAttrs));
      if (s >= 0) times[p]?.push((performance.now() - t0) * 1000);
    }
  }
  return times.map((t) => {
    t.sort((a, b) => a - b);
    return Math.round(t[Math.floor(t.length / 2)] ?? 0);
  });
}

/** Seeded xorshift so the lookup sequence is the same on every run. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  const entries = intFlag(flags, 'entries', 100_000);
  const lookups = intFlag(flags, 'lookups', 200_000);
  const inFlight = intFlag(flags, 'in-flight', 16);
  const pageBytes = intFlag(flags, 'page-bytes', 4096);
  const samples = intFlag(flags, 'page-samples', 200);
  const dirPath = scratchDir(flags);
  const m = await createFileSystem(join(dirPath, 'pool.img'), 4 * GiB);
  const { fs } = m;

  progress(`building a directory of ${entries} entries`);
  const built = await createFiles(fs, { files: entries, layout: 'single', perDir: entries, inFlight: 64, label: 'build' });
  const { attr: dAttr } = await fs.lookup(fs.root, 'd0');
  const dir: FileRef = { ino: dAttr.ino, generation: dAttr.generation };

  progress(`${lookups} random LOOKUPs`);
  const rnd = xorshift(12345);
  const t0 = performance.now();
  await drive(lookups, inFlight, async () => {
    const i = Math.floor(rnd() * entries);
    const r = await fs.lookup(dir, fileName(i));
    if (r.attr.size !== 0n) throw new Error('unexpected size');
  });
  const lookupMs = performance.now() - t0;
  // A name that is not there walks the same path and answers NOENT.
  const t1 = performance.now();
  let missing = 0;
  await drive(Math.floor(lookups / 4), inFlight, async (i) => {
    await fs.lookup(dir, `missing-${i}`).catch(() => missing++);
  });
  const missMs = performance.now() - t1;

  progress('READDIR without and with attributes');
  const plain = await listAll(fs, dir, false, pageBytes);
  const plus = await listAll(fs, dir, true, pageBytes);
  const expected = entries + 2; // "." and ".."
  if (plain.entries !== expected || plus.entries !== expected)
    throw new Error(`listing saw ${plain.entries} / ${plus.entries} entries, expected ${expected}`);

  // The first page, full pages at 10 %, 50 % and 90 % of the directory, and the last full page.
  const positions = async (l: ListingFigures, withAttrs: boolean): Promise<{ firstUs: number; at10Us: number; middleUs: number; at90Us: number; lastUs: number }> => {
    const at = [0, Math.floor(l.pages / 10), Math.floor(l.pages / 2), Math.floor((l.pages * 9) / 10), Math.max(0, l.pages - 2)].map((i) => l.pageStartCookies[i] ?? 0n);
    const [firstUs = 0, at10Us = 0, middleUs = 0, at90Us = 0, lastUs = 0] = await pageTimesUs(fs, dir, at, withAttrs, pageBytes, samples);
    return { firstUs, at10Us, middleUs, at90Us, lastUs };
  };
  const plainPos = await positions(plain, false);
  const plusPos = await positions(plus, true);
  const mem = memory();
  await m.close();

  const lookupRate = (lookups * 1000) / lookupMs;
  const missRate = (Math.floor(lookups / 4) * 1000) / missMs;
  const posRow = (p: { firstUs: number; at10Us: number; middleUs: number; at90Us: number; lastUs: number }): string =>
    `${[p.firstUs, p.at10Us, p.middleUs, p.at90Us, p.lastUs].join(' / ')} µs`;
  printTable(`big-directory (${entries} entries, pages of ${pageBytes} XDR bytes)`, [
    ['build (create, 64 in flight)', `${fmtMs(built.createMs)} (${fmtRate((entries * 1000) / built.createMs)} files/s)`],
    [`LOOKUP hit (${inFlight} in flight)`, `${fmtRate(lookupRate)} ops/s (${lookups} lookups)`],
    ['LOOKUP miss (NOENT)', `${fmtRate(missRate)} ops/s (${missing} misses)`],
    ['READDIR full listing', `${fmtMs(plain.ms)}, ${fmtRate((plain.entries * 1000) / plain.ms)} entries/s, ${plain.pages} pages of ~${Math.round(plain.entries / plain.pages)}`],
    ['READDIR page first/10%/50%/90%/last', `${posRow(plainPos)} (median of ${samples})`],
    ['READDIRPLUS full listing', `${fmtMs(plus.ms)}, ${fmtRate((plus.entries * 1000) / plus.ms)} entries/s, ${plus.pages} pages of ~${Math.round(plus.entries / plus.pages)}`],
    ['READDIRPLUS page first/10%/50%/90%/last', `${posRow(plusPos)} (median of ${samples})`],
    ['middle/first ratio (plain, plus)', `${(plainPos.middleUs / plainPos.firstUs).toFixed(2)}, ${(plusPos.middleUs / plusPos.firstUs).toFixed(2)}`],
    ['peak RSS', fmtBytes(mem.peakRssBytes)],
  ]);
  printJson('big-directory', {
    entries,
    pageBytes,
    buildMs: Math.round(built.createMs),
    lookups,
    lookupInFlight: inFlight,
    lookupOpsPerSec: Math.round(lookupRate),
    lookupMissOpsPerSec: Math.round(missRate),
    readdir: { ms: Math.round(plain.ms), entriesPerSec: Math.round((plain.entries * 1000) / plain.ms), pages: plain.pages, ...plainPos },
    readdirplus: { ms: Math.round(plus.ms), entriesPerSec: Math.round((plus.entries * 1000) / plus.ms), pages: plus.pages, ...plusPos },
    peakRssBytes: mem.peakRssBytes,
  });
}

main().catch(fail);
