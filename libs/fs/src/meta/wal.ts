import { crc32c } from '@node-rs/crc32';
import type { Extent, Transaction } from './volume';
import { CorruptionError } from './volume';
import {
  LOG,
  LOG_FLAG_LAST,
  LOG_HEADER_BYTES,
  LOG_MAGIC,
  LOG_TX,
  LOG_TX_DATA,
  LOG_WRAP,
  MAX_KEY_BYTES,
  MAX_TX_BYTES,
  MAX_VALUE_BYTES,
  SECTOR_BYTES,
  TX_DATA_CRC_BYTES,
  TX_DATA_HEADER_BYTES,
  TX_DATA_RUN_HEADER_BYTES,
  TX_DEL_HEADER_BYTES,
  TX_EXTENT_BYTES,
  TX_HEADER_BYTES,
  TX_PUT_HEADER_BYTES,
  align,
  readU64,
  writeU64,
} from './layout';

/**
 * Write-ahead log records: encoding, sealing and sequential reading of the circular region.
 *
 * Invariants: LSNs increase by one with no gap; a record is acknowledged only once it is
 * durable (its batch is one durable write, plus a sync of the file data it names); every batch
 * starts on a sector boundary and ends with
 * a record flagged LAST, so a torn batch never damages a sector holding acknowledged records.
 * A reader stops (end of log) at the first record that fails its checksum or magic, or whose
 * LSN, epoch or log generation is not the expected one: that is the torn or stale tail. A
 * LOG_TX_DATA record whose file data does not verify (the caller's verdict) also ends the log,
 * unless a record of a later batch follows it: batches are written one after another, each
 * only after the previous one's writes and sync returned, so a later batch proves that sync completed
 * and the mismatch is corruption, not a torn tail.
 */

export class TxTooLargeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'TxTooLargeError';
  }
}

export interface EncodedTx {
  /** LOG_HEADER_BYTES of header (filled by sealRecord) + payload. */
  rec: Buffer;
  /** Views into rec: the tree keeps these, so the transaction is copied exactly once. */
  puts: Array<[Buffer, Buffer]>;
  dels: Buffer[];
  allocated: Extent[];
  freed: Extent[];
  /** LOG_TX_DATA only: crc32c of file data blocks the record maps (see DataRun). */
  data?: DataRun[];
}

/** Consecutive file data blocks from `block`, with the crc32c of each 4096-byte block. */
export interface DataRun {
  block: number;
  crcs: number[];
}

/** Bytes of a LOG_TX_DATA checksums section. */
export function dataSectionBytes(runs: DataRun[]): number {
  let n = TX_DATA_HEADER_BYTES;
  for (const r of runs) n += TX_DATA_RUN_HEADER_BYTES + r.crcs.length * TX_DATA_CRC_BYTES;
  return n;
}

function checkExtents(list: Extent[] | undefined, what: string): Extent[] {
  const out = list ?? [];
  for (const e of out)
    if (!Number.isSafeInteger(e.block) || !Number.isSafeInteger(e.count) || e.block < 0 || e.count <= 0 || e.count > 0xffff_ffff)
      throw new RangeError(`${what} extent ${e.block}+${e.count} is not valid`);
  return out;
}

/** Validate sizes and copy the transaction into one record buffer. */
export function encodeTx(tx: Transaction): EncodedTx {
  const allocated = checkExtents(tx.allocated, 'allocated');
  const freed = checkExtents(tx.freed, 'freed');
  let bytes = LOG_HEADER_BYTES + TX_HEADER_BYTES + (allocated.length + freed.length) * TX_EXTENT_BYTES;
  for (const [k, v] of tx.puts) {
    if (k.length > MAX_KEY_BYTES) throw new TxTooLargeError(`key of ${k.length} bytes exceeds ${MAX_KEY_BYTES}`);
    if (v.length > MAX_VALUE_BYTES) throw new TxTooLargeError(`value of ${v.length} bytes exceeds ${MAX_VALUE_BYTES}`);
    bytes += TX_PUT_HEADER_BYTES + k.length + v.length;
  }
  for (const k of tx.dels) {
    if (k.length > MAX_KEY_BYTES) throw new TxTooLargeError(`key of ${k.length} bytes exceeds ${MAX_KEY_BYTES}`);
    bytes += TX_DEL_HEADER_BYTES + k.length;
  }
  if (bytes > MAX_TX_BYTES) throw new TxTooLargeError(`transaction of ${bytes} bytes exceeds ${MAX_TX_BYTES}`);
  const rec = Buffer.allocUnsafe(bytes);
  rec.fill(0, 0, LOG_HEADER_BYTES);
  let o = LOG_HEADER_BYTES;
  rec.writeUInt32LE(tx.puts.length, o);
  rec.writeUInt32LE(tx.dels.length, o + 4);
  rec.writeUInt32LE(allocated.length, o + 8);
  rec.writeUInt32LE(freed.length, o + 12);
  o += TX_HEADER_BYTES;
  const puts: Array<[Buffer, Buffer]> = new Array<[Buffer, Buffer]>(tx.puts.length);
  for (let i = 0; i < tx.puts.length; i++) {
    const [k, v] = tx.puts[i]!;
    rec.writeUInt16LE(k.length, o);
    rec.writeUInt32LE(v.length, o + 2);
    o += TX_PUT_HEADER_BYTES;
    rec.set(k, o);
    const kv = rec.subarray(o, o + k.length);
    o += k.length;
    rec.set(v, o);
    puts[i] = [kv, rec.subarray(o, o + v.length)];
    o += v.length;
  }
  const dels: Buffer[] = new Array<Buffer>(tx.dels.length);
  for (let i = 0; i < tx.dels.length; i++) {
    const k = tx.dels[i]!;
    rec.writeUInt16LE(k.length, o);
    o += TX_DEL_HEADER_BYTES;
    rec.set(k, o);
    dels[i] = rec.subarray(o, o + k.length);
    o += k.length;
  }
  for (const e of [...allocated, ...freed]) {
    writeU64(rec, o, e.block);
    rec.writeUInt32LE(e.count, o + 8);
    o += TX_EXTENT_BYTES;
  }
  return { rec, puts, dels, allocated: allocated.map((e) => ({ ...e })), freed: freed.map((e) => ({ ...e })) };
}

/** Fill the header of a record and its checksum (the last step before it is written). */
export function sealRecord(rec: Buffer, kind: number, flags: number, lsn: bigint, epoch: bigint, logGen: bigint): void {
  rec.writeUInt32LE(LOG_MAGIC, LOG.magic);
  rec.writeUInt32LE(rec.length - LOG_HEADER_BYTES, LOG.payloadBytes);
  rec[LOG.kind] = kind;
  rec[LOG.flags] = flags;
  rec.writeUInt16LE(0, LOG.reserved);
  rec.writeBigUInt64LE(lsn, LOG.lsn);
  rec.writeBigUInt64LE(epoch, LOG.epoch);
  rec.writeBigUInt64LE(logGen, LOG.logGen);
  rec.writeUInt32LE(crc32c(rec.subarray(4)), LOG.crc);
}

/**
 * Copy a record encoded by encodeTx into `dst` at `o`, with `runs` (if any) appended as the
 * data checksums section, and seal it there: kind LOG_TX_DATA with runs, LOG_TX without.
 * Returns the record's length. `rec` itself is not changed (the tree keeps views of it).
 */
export function sealInto(dst: Buffer, o: number, rec: Buffer, runs: DataRun[] | undefined, flags: number, lsn: bigint, epoch: bigint, logGen: bigint): number {
  rec.copy(dst, o);
  let end = o + rec.length;
  if (runs) {
    dst.writeUInt32LE(runs.length, end);
    end += TX_DATA_HEADER_BYTES;
    for (const r of runs) {
      writeU64(dst, end, r.block);
      dst.writeUInt32LE(r.crcs.length, end + 8);
      end += TX_DATA_RUN_HEADER_BYTES;
      for (const c of r.crcs) {
        dst.writeUInt32LE(c, end);
        end += TX_DATA_CRC_BYTES;
      }
    }
  }
  sealRecord(dst.subarray(o, end), runs ? LOG_TX_DATA : LOG_TX, flags, lsn, epoch, logGen);
  return end - o;
}

/** A wrap marker: the batch that follows starts at the beginning of the region. */
export function wrapRecord(lsn: bigint, epoch: bigint, logGen: bigint): Buffer {
  const rec = Buffer.alloc(SECTOR_BYTES);
  const hdr = rec.subarray(0, LOG_HEADER_BYTES);
  sealRecord(hdr, LOG_WRAP, LOG_FLAG_LAST, lsn, epoch, logGen);
  return rec;
}

/** Decode a checksummed payload; a structure that does not add up is corruption. */
export function decodeTx(payload: Buffer, lsn: bigint, kind: number = LOG_TX): EncodedTx {
  const bad = (why: string): never => {
    throw new CorruptionError(`log record ${lsn}`, why);
  };
  if (payload.length < TX_HEADER_BYTES) bad('short payload');
  const np = payload.readUInt32LE(0);
  const nd = payload.readUInt32LE(4);
  const na = payload.readUInt32LE(8);
  const nf = payload.readUInt32LE(12);
  let o = TX_HEADER_BYTES;
  const need = (n: number): number => {
    if (o + n > payload.length) bad('payload overrun');
    const at = o;
    o += n;
    return at;
  };
  if (np + nd > payload.length || (na + nf) * TX_EXTENT_BYTES > payload.length) bad('counts exceed payload');
  const puts: Array<[Buffer, Buffer]> = [];
  for (let i = 0; i < np; i++) {
    const h = need(TX_PUT_HEADER_BYTES);
    const kl = payload.readUInt16LE(h);
    const vl = payload.readUInt32LE(h + 2);
    if (kl > MAX_KEY_BYTES || vl > MAX_VALUE_BYTES) bad('item too large');
    const k = need(kl);
    const v = need(vl);
    puts.push([payload.subarray(k, k + kl), payload.subarray(v, v + vl)]);
  }
  const dels: Buffer[] = [];
  for (let i = 0; i < nd; i++) {
    const kl = payload.readUInt16LE(need(TX_DEL_HEADER_BYTES));
    if (kl > MAX_KEY_BYTES) bad('key too large');
    const k = need(kl);
    dels.push(payload.subarray(k, k + kl));
  }
  const ext = (): Extent => {
    const at = need(TX_EXTENT_BYTES);
    const e = { block: readU64(payload, at), count: payload.readUInt32LE(at + 8) };
    if (e.count === 0) bad('empty extent');
    return e;
  };
  const allocated: Extent[] = [];
  for (let i = 0; i < na; i++) allocated.push(ext());
  const freed: Extent[] = [];
  for (let i = 0; i < nf; i++) freed.push(ext());
  let data: DataRun[] | undefined;
  if (kind === LOG_TX_DATA) {
    data = [];
    const nr = payload.readUInt32LE(need(TX_DATA_HEADER_BYTES));
    if (nr * TX_DATA_RUN_HEADER_BYTES > payload.length - o) bad('data runs exceed payload');
    for (let i = 0; i < nr; i++) {
      const at = need(TX_DATA_RUN_HEADER_BYTES);
      const block = readU64(payload, at);
      const count = payload.readUInt32LE(at + 8);
      if (count === 0) bad('empty data run');
      if (count * TX_DATA_CRC_BYTES > payload.length - o) bad('data run overrun');
      const crcs = new Array<number>(count);
      for (let j = 0; j < count; j++) crcs[j] = payload.readUInt32LE(need(TX_DATA_CRC_BYTES));
      data.push({ block, crcs });
    }
  }
  if (o !== payload.length) bad('trailing bytes');
  return data ? { rec: payload, puts, dels, allocated, freed, data } : { rec: payload, puts, dels, allocated, freed };
}

export interface LogRegion {
  read(buf: Buffer, posBytes: number): Promise<void>; // relative to the region start
  readonly sizeBytes: number;
}

export interface ReplayedRecord {
  lsn: bigint;
  tx: EncodedTx;
}

/**
 * Read the log from `posBytes` expecting `lsn`, calling `onRecord` for each valid record in
 * order. Returns where the next batch goes (sector aligned) and the next LSN. Reads go
 * through a window, so the bytes read are the tail plus at most one window.
 *
 * `onRecord` returns false when the record's file data does not verify: the record was never
 * acknowledged (its batch's sync did not complete), so it and everything after it are the
 * torn tail. The reader then only scans on: a valid record of a later batch would prove that
 * sync completed, and is `CorruptionError('log record <lsn>', …)` instead.
 */
export async function readLog(
  region: LogRegion,
  startPosBytes: number,
  firstLsn: bigint,
  epoch: bigint,
  logGen: bigint,
  onRecord: (r: ReplayedRecord) => void | boolean | Promise<void | boolean>,
): Promise<{ posBytes: number; nextLsn: bigint; bytesRead: number }> {
  const size = region.sizeBytes;
  const windowBytes = Math.min(256 * 1024, size);
  let win = Buffer.alloc(0);
  let winPos = -1;
  let bytesRead = 0;
  const view = async (pos: number, n: number): Promise<Buffer | undefined> => {
    if (pos + n > size) return undefined;
    if (winPos < 0 || pos < winPos || pos + n > winPos + win.length) {
      const len = Math.min(Math.max(windowBytes, n), size - pos);
      win = Buffer.allocUnsafe(len);
      await region.read(win, pos);
      bytesRead += len;
      winPos = pos;
    }
    return win.subarray(pos - winPos, pos - winPos + n);
  };
  let pos = startPosBytes;
  let lsn = firstLsn;
  let consumed = 0;
  let endPos = pos;
  // Set once a record's data failed: from then on records are only scanned, never replayed.
  let failed: { lsn: bigint; endPos: number; batchEnded: boolean } | undefined;
  const laterBatch = (): never => {
    throw new CorruptionError(`log record ${failed!.lsn}`, 'file data does not match the record, yet a later batch was written after its sync');
  };
  for (;;) {
    if (pos + LOG_HEADER_BYTES > size) pos = 0;
    if (consumed > size) break; // cannot happen with valid LSNs; a guard against a loop
    const hdr = await view(pos, LOG_HEADER_BYTES);
    if (!hdr) break;
    if (hdr.readUInt32LE(LOG.magic) !== LOG_MAGIC) break;
    const payloadBytes = hdr.readUInt32LE(LOG.payloadBytes);
    const kind = hdr[LOG.kind]!;
    const flags = hdr[LOG.flags]!;
    if (hdr.readBigUInt64LE(LOG.lsn) !== lsn) break;
    if (hdr.readBigUInt64LE(LOG.epoch) !== epoch || hdr.readBigUInt64LE(LOG.logGen) !== logGen) break;
    if (kind === LOG_WRAP) {
      if (payloadBytes !== 0 || hdr.readUInt32LE(LOG.crc) !== crc32c(hdr.subarray(4))) break;
      // A wrap marker is written with the batch after it, so it follows a completed sync.
      if (failed) laterBatch();
      consumed += size - pos;
      pos = 0;
      endPos = 0;
      continue;
    }
    if ((kind !== LOG_TX && kind !== LOG_TX_DATA) || payloadBytes > MAX_TX_BYTES || pos + LOG_HEADER_BYTES + payloadBytes > size) break;
    const whole = await view(pos, LOG_HEADER_BYTES + payloadBytes);
    if (!whole) break;
    if (whole.readUInt32LE(LOG.crc) !== crc32c(whole.subarray(4))) break;
    const len = LOG_HEADER_BYTES + payloadBytes;
    if (failed) {
      if (failed.batchEnded) laterBatch();
    } else {
      // Copy: the window buffer is reused, and the tree keeps views of the payload.
      const payload = Buffer.from(whole.subarray(LOG_HEADER_BYTES));
      if ((await onRecord({ lsn, tx: decodeTx(payload, lsn, kind) })) === false) failed = { lsn, endPos, batchEnded: false };
    }
    lsn++;
    consumed += len;
    pos += len;
    if (flags & LOG_FLAG_LAST) {
      pos = align(pos, SECTOR_BYTES);
      if (failed) failed.batchEnded = true;
    }
    if (!failed) endPos = pos;
  }
  if (failed) lsn = failed.lsn;
  endPos = align(endPos, SECTOR_BYTES);
  if (endPos >= size) endPos = 0;
  return { posBytes: endPos, nextLsn: lsn, bytesRead };
}
