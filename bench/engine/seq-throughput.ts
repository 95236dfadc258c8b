/**
 * seq-throughput: sequential write and read of --mib MiB (default 1024) through the engine to
 * the pool file, against dd on the same directory (same disk) as the yardstick.
 *
 * Write: 1 MiB UNSTABLE writes (--in-flight at a time, as an NFS client keeps several WRITEs
 * outstanding) then one COMMIT; the time runs until the COMMIT returns, so it covers the data
 * reaching the disk. dd: `bs=1M count=N conv=fdatasync`, i.e. also until durable.
 * Read: 1 MiB reads of the whole file, each MiB checked, after dropping the file's pages from
 * the OS cache (GNU dd `iflag=nocache count=0`, which advises DONTNEED for the whole file), so
 * both sides read from the device; dd reads its own file to /dev/null the same way.
 *
 * Usage: node dist/bench/engine/seq-throughput.js [--mib 1024] [--in-flight 8] [--dir DIR]
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { StableHow, type FileRef } from '@ferry/fs';
import { GiB, MiB, createFileSystem, fail, fmtBytes, fmtMs, intFlag, memory, parseFlags, printJson, printTable, progress, scratchDir } from './harness';

const FLAGS = {
  mib: 'MiB to write and read (default 1024)',
  'in-flight': 'concurrent 1 MiB WRITEs / READs (default 8)',
  dir: 'scratch directory on the disk under test',
};

/** Drops a file's cached pages so the next read comes from the device; false when dd cannot. */
function dropCache(path: string): boolean {
  const r = spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
  return r.status === 0;
}

function timedDd(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync('dd', [...args, 'status=none'], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`dd ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  const mib = intFlag(flags, 'mib', 1024);
  const inFlight = Math.max(1, intFlag(flags, 'in-flight', 8));
  const dir = scratchDir(flags);
  const devPath = join(dir, 'pool.img');
  const totalBytes = mib * MiB;
  const m = await createFileSystem(devPath, Math.max(4 * GiB, 2 * totalBytes + GiB));
  const { fs } = m;
  const { attr } = await fs.create(fs.root, 'big', { how: 'guarded', attrs: { mode: 0o644 } }, { uid: 0, gid: 0 });
  const file: FileRef = { ino: attr.ino, generation: attr.generation };

  // Random-looking content so nothing can shortcut zeros; each MiB carries its index.
  const template = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += 4) template.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ 0x5bd1e995) >>> 0, i);

  progress(`engine: writing ${mib} MiB (UNSTABLE, ${inFlight} in flight) + COMMIT`);
  const tw = performance.now();
  let next = 0;
  let unstableCount = 0;
  const writer = async (): Promise<void> => {
    while (next < mib) {
      const i = next++;
      const data = Buffer.from(template);
      data.writeUInt32LE(i, 0);
      const r = await fs.write(file, BigInt(i) * BigInt(MiB), data, StableHow.UNSTABLE);
      if (r.count !== MiB) throw new Error(`short write at MiB ${i}: ${r.count}`);
      if (r.committed === StableHow.UNSTABLE) unstableCount++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, writer));
  const writesDoneMs = performance.now() - tw;
  await fs.commit(file, 0n, 0);
  const engineWriteMs = performance.now() - tw;
  const memAfterWrite = memory();

  const cacheDropped = dropCache(devPath);
  progress(`engine: reading ${mib} MiB${cacheDropped ? ' (cache dropped)' : ' (could NOT drop the cache)'}`);
  const tr = performance.now();
  next = 0;
  const reader = async (): Promise<void> => {
    while (next < mib) {
      const i = next++;
      const r = await fs.read(file, BigInt(i) * BigInt(MiB), MiB);
      if (r.data.length !== MiB || r.data.readUInt32LE(0) !== i || r.data.readUInt32LE(4) !== template.readUInt32LE(4))
        throw new Error(`read of MiB ${i} returned the wrong data (${r.data.length} bytes)`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, reader));
  const engineReadMs = performance.now() - tr;
  await m.close();

  progress(`dd: writing and reading ${mib} MiB in the same directory`);
  const ddPath = join(dir, 'dd.img');
  const ddWriteMs = timedDd(['if=/dev/zero', `of=${ddPath}`, 'bs=1M', `count=${mib}`, 'conv=fdatasync']);
  dropCache(ddPath);
  const ddReadMs = timedDd([`if=${ddPath}`, 'of=/dev/null', 'bs=1M']);

  const mbps = (ms: number): number => totalBytes / MiB / (ms / 1000);
  const ew = mbps(engineWriteMs);
  const er = mbps(engineReadMs);
  const dw = mbps(ddWriteMs);
  const dr = mbps(ddReadMs);
  printTable(`seq-throughput (${fmtBytes(totalBytes)}, 1 MiB requests, ${inFlight} in flight)`, [
    ['engine write (UNSTABLE + COMMIT)', `${ew.toFixed(0)} MiB/s (${fmtMs(engineWriteMs)}; writes returned after ${fmtMs(writesDoneMs)})`],
    ['dd write (conv=fdatasync)', `${dw.toFixed(0)} MiB/s (${fmtMs(ddWriteMs)})`],
    ['write ratio engine / dd', (ew / dw).toFixed(2)],
    ['engine read', `${er.toFixed(0)} MiB/s (${fmtMs(engineReadMs)})`],
    ['dd read', `${dr.toFixed(0)} MiB/s (${fmtMs(ddReadMs)})`],
    ['read ratio engine / dd', (er / dr).toFixed(2)],
    ['page cache dropped before reads', cacheDropped ? 'yes (dd iflag=nocache)' : 'NO: reads may come from memory'],
    ['writes answered UNSTABLE', `${unstableCount} of ${mib}`],
    ['peak RSS after write', fmtBytes(memAfterWrite.peakRssBytes)],
  ]);
  printJson('seq-throughput', {
    bytes: totalBytes,
    inFlight,
    engineWriteMiBps: Math.round(ew),
    engineReadMiBps: Math.round(er),
    ddWriteMiBps: Math.round(dw),
    ddReadMiBps: Math.round(dr),
    writeRatio: Number((ew / dw).toFixed(3)),
    readRatio: Number((er / dr).toFixed(3)),
    engineWriteMs: Math.round(engineWriteMs),
    engineWritesReturnedMs: Math.round(writesDoneMs),
    engineReadMs: Math.round(engineReadMs),
    ddWriteMs: Math.round(ddWriteMs),
    ddReadMs: Math.round(ddReadMs),
    cacheDropped,
    peakRssBytes: memAfterWrite.peakRssBytes,
  });
}

main().catch(fail);
