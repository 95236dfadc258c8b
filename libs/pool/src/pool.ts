import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import type { BlockDevice, Space } from './block-device';
import { PoolFullError } from './block-device';
import { PoolError, PoolErrorCode } from './errors';
import { FileDevice } from './file-device';
import { type DeviceLabel, checkGeometry, decodeLabel, encodeLabel, sameLabel, sliceCountFor } from './label';
import {
  BLOCK_BYTES,
  DEFAULT_FIRST_SLICE_OFFSET_BYTES,
  DEFAULT_SLICE_BYTES,
  DEVICE_ID_BYTES,
  LABEL_AREA_BYTES,
  LABEL_OFFSETS,
  MAX_FS_ID,
  MAX_SLICE_INDEX,
  POOL_ID_BYTES,
  RECORD_BYTES,
  SliceState,
} from './layout';
import { Mutex } from './mutex';
import { decodeSliceHeader, encodeSliceHeader } from './slice-header';
import { FsRecord, PoolSpace, type SliceRef, type SpaceHost } from './space';

/**
 * A pool: devices carved into slices, each slice free or owned by one filesystem.
 *
 * Invariants:
 * - The devices are exactly what their labels and slice headers say: on open, every label and
 *   slice header is read and validated before anything is accepted, and a failed open writes
 *   nothing to any device.
 * - A slice is handed to a filesystem only after its USED header is written and synced, so an
 *   acknowledged grow() survives a crash. A crash after writing a header and before grow()
 *   resolves leaves a slice that belongs to the filesystem anyway (harmless, it is just larger).
 * - A filesystem's slices are numbered 0..n-1; destroy frees them from the highest index down,
 *   one synced header at a time, so a crash mid-destroy leaves a shorter but contiguous
 *   filesystem that a second destroy finishes.
 * - Allocation, destroy and device growth run one at a time (mutex); Space I/O does not take
 *   the mutex (it only reads the slice table, which only grows while a Space is live).
 * - In memory a slot is FREE, USED, or RESERVED (header write in flight or failed: its state on
 *   the device is unknown until the next open, so it is never reused in this session).
 */

const SLOT_FREE = 0;
const SLOT_USED = 1;
const SLOT_RESERVED = 2;
/** Header reads and writes in flight per device while scanning or formatting. */
const IO_CONCURRENCY = 64;
/** Slice headers read per batch when opening (bounds memory: 256 x 512 bytes). */
const SCAN_CHUNK_SLOTS = 256;

export interface PoolCreateOptions {
  /** Default 256 MiB; a multiple of 4096, at least 8192. */
  sliceBytes?: number;
  /** Device files that do not exist are created sparse with this size (existing ones are used as they are). */
  createSizeBytes?: number;
  /** 16 bytes; random by default. */
  poolId?: Buffer;
  /** Overwrite devices that carry a label or any non-zero byte in their first 8 KiB. */
  force?: boolean;
  /** Default 1 MiB. */
  firstSliceOffsetBytes?: number;
  /** Source of pool and device ids (default crypto.randomBytes), injectable for tests. */
  randomBytes?: (n: number) => Buffer;
}

export interface PoolOpenOptions {
  /** Open devices read-only; the pool refuses every write. */
  readOnly?: boolean;
  randomBytes?: (n: number) => Buffer;
  /**
   * Several processes share the pool's devices (data movers of a cluster): slice allocation,
   * freeing and `refresh` run inside `exclusive`, a lock all of them honour (docs/cluster.md).
   */
  coordinator?: PoolCoordinator;
}

/** A lock over the whole pool, held across processes (e.g. a PostgreSQL advisory lock). */
export interface PoolCoordinator {
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

export interface AddDeviceOptions {
  createSizeBytes?: number;
  force?: boolean;
}

export interface FilesystemInfo {
  fsId: bigint;
  /** Slices found. */
  slices: number;
  /** Addressable bytes (slices x sliceDataBytes). */
  bytes: number;
  /** False when a slice index below the highest one is missing (openSpace would refuse). */
  complete: boolean;
}

export interface DeviceStats {
  path: string;
  deviceIndex: number;
  deviceId: string;
  sizeBytes: number;
  totalSlices: number;
  freeSlices: number;
}

export interface PoolStats {
  poolId: string;
  sliceBytes: number;
  sliceDataBytes: number;
  devices: DeviceStats[];
  totalSlices: number;
  freeSlices: number;
  filesystems: number;
}

interface PoolDevice {
  readonly device: BlockDevice;
  readonly label: DeviceLabel;
  readonly slotState: Uint8Array;
  freeSlots: number;
  /** No FREE slot below this index (keeps allocation from rescanning the used prefix). */
  freeHint: number;
  /** Label copies found damaged or older than the one in use (see repairLabels). */
  staleLabelCopies: Array<0 | 1>;
}

export class Pool implements SpaceHost {
  private readonly fsById = new Map<bigint, FsRecord>();
  private readonly mutex = new Mutex();
  private closedFlag = false;
  /** Damage found and tolerated while opening (one bad label copy, ...), for the operator. */
  readonly warnings: string[] = [];

  private constructor(
    readonly poolId: Buffer,
    readonly sliceBytes: number,
    private readonly firstSliceOffsetBytes: number,
    private readonly devices: PoolDevice[],
    readonly readOnly: boolean,
    private readonly randomBytes: (n: number) => Buffer,
    private readonly coordinator?: PoolCoordinator,
  ) {}

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Usable bytes per slice (the slice minus its header). */
  get sliceDataBytes(): number {
    return this.sliceBytes - BLOCK_BYTES;
  }

  // ---- create -------------------------------------------------------------------------------

  static async create(devicePaths: string[], opts: PoolCreateOptions = {}): Promise<Pool> {
    checkDistinctPaths(devicePaths);
    const devices = await openAll(devicePaths, (p) =>
      FileDevice.open(p, opts.createSizeBytes === undefined ? {} : { create: { sizeBytes: opts.createSizeBytes } }),
    );
    try {
      return await Pool.createOnDevices(devices, opts);
    } catch (err) {
      await closeAll(devices);
      throw err;
    }
  }

  /** Formats `devices` as a new pool. The pool owns the devices from here on (close() closes them). */
  static async createOnDevices(devices: BlockDevice[], opts: PoolCreateOptions = {}): Promise<Pool> {
    if (devices.length === 0) throw new PoolError(PoolErrorCode.INVALID_ARGUMENT, 'a pool needs at least one device');
    const random = opts.randomBytes ?? cryptoRandomBytes;
    const sliceBytes = opts.sliceBytes ?? DEFAULT_SLICE_BYTES;
    const firstSliceOffsetBytes = opts.firstSliceOffsetBytes ?? DEFAULT_FIRST_SLICE_OFFSET_BYTES;
    const bad = checkGeometry(sliceBytes, firstSliceOffsetBytes);
    if (bad !== undefined) throw new PoolError(PoolErrorCode.INVALID_ARGUMENT, bad);
    const poolId = opts.poolId ?? random(POOL_ID_BYTES);
    if (poolId.length !== POOL_ID_BYTES) throw new PoolError(PoolErrorCode.INVALID_ARGUMENT, `pool id must be ${POOL_ID_BYTES} bytes`);
    // Check every device before writing any, so a refused create leaves all of them untouched.
    for (const d of devices) {
      checkFits(d, sliceBytes, firstSliceOffsetBytes);
      await checkEmpty(d, opts.force ?? false, undefined);
    }
    const pds: PoolDevice[] = [];
    for (let i = 0; i < devices.length; i++) {
      const d = devices[i]!;
      const label = newLabel(poolId, random(DEVICE_ID_BYTES), i, d.sizeBytes, sliceBytes, firstSliceOffsetBytes);
      await formatDevice(d, label, opts.force ?? false);
      pds.push(newPoolDevice(d, label));
    }
    return new Pool(Buffer.from(poolId), sliceBytes, firstSliceOffsetBytes, pds, false, random);
  }

  // ---- open ---------------------------------------------------------------------------------

  static async open(devicePaths: string[], opts: PoolOpenOptions = {}): Promise<Pool> {
    checkDistinctPaths(devicePaths);
    const devices = await openAll(devicePaths, (p) => FileDevice.open(p, { readOnly: opts.readOnly ?? false }));
    try {
      return await Pool.openDevices(devices, opts);
    } catch (err) {
      await closeAll(devices);
      throw err;
    }
  }

  /** Validates and loads a pool from its devices. Reads only: a refused open changes nothing. */
  static async openDevices(devices: BlockDevice[], opts: PoolOpenOptions = {}): Promise<Pool> {
    if (devices.length === 0) throw new PoolError(PoolErrorCode.INVALID_ARGUMENT, 'a pool needs at least one device');
    const warnings: string[] = [];
    const labels: DeviceLabel[] = [];
    const staleCopies: Array<Array<0 | 1>> = [];
    for (const d of devices) {
      const stale: Array<0 | 1> = [];
      labels.push(await readLabel(d, warnings, stale));
      staleCopies.push(stale);
    }

    const first = labels[0]!;
    const byIndex = new Map<number, number>();
    const byId = new Map<string, number>();
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i]!;
      const path = devices[i]!.path;
      if (!l.poolId.equals(first.poolId)) {
        throw new PoolError(
          PoolErrorCode.MIXED_POOLS,
          `belongs to pool ${l.poolId.toString('hex')}, but ${devices[0]!.path} belongs to pool ${first.poolId.toString('hex')}`,
          path,
        );
      }
      const sameId = byId.get(l.deviceId.toString('hex'));
      if (sameId !== undefined) {
        throw new PoolError(PoolErrorCode.DUPLICATE_DEVICE, `is the same pool device as ${devices[sameId]!.path} (device id ${l.deviceId.toString('hex')})`, path);
      }
      byId.set(l.deviceId.toString('hex'), i);
      const sameIndex = byIndex.get(l.deviceIndex);
      if (sameIndex !== undefined) {
        throw new PoolError(PoolErrorCode.DUPLICATE_DEVICE, `claims device index ${l.deviceIndex}, as does ${devices[sameIndex]!.path}`, path);
      }
      byIndex.set(l.deviceIndex, i);
      if (l.sliceBytes !== first.sliceBytes || l.firstSliceOffsetBytes !== first.firstSliceOffsetBytes) {
        throw new PoolError(PoolErrorCode.BAD_LABEL, `slice geometry differs from ${devices[0]!.path}`, path);
      }
    }
    const maxIndex = Math.max(...byIndex.keys());
    for (let k = 0; k <= maxIndex; k++) {
      if (!byIndex.has(k)) {
        throw new PoolError(PoolErrorCode.MISSING_DEVICE, `device index ${k} of pool ${first.poolId.toString('hex')} is missing (found indexes ${[...byIndex.keys()].sort((a, b) => a - b).join(', ')})`);
      }
    }

    // Devices in index order, so allocation ties and stats are stable whatever order paths came in.
    const order = [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, i]) => i);
    const pds = order.map((i) => {
      const pd = newPoolDevice(devices[i]!, labels[i]!);
      pd.staleLabelCopies.push(...staleCopies[i]!);
      return pd;
    });
    const found = new Map<bigint, Map<number, SliceRef>>();
    for (const pd of pds) await scanSlices(pd, found);

    const pool = new Pool(
      Buffer.from(first.poolId),
      first.sliceBytes,
      first.firstSliceOffsetBytes,
      pds,
      opts.readOnly ?? false,
      opts.randomBytes ?? cryptoRandomBytes,
      opts.coordinator,
    );
    for (const [id, slices] of found) pool.fsById.set(id, buildRecord(id, slices));
    pool.warnings.push(...warnings);
    return pool;
  }

  // ---- devices ------------------------------------------------------------------------------

  /** Adds a device file (created sparse when missing and createSizeBytes is given). */
  async addDevice(path: string, opts: AddDeviceOptions = {}): Promise<void> {
    this.checkWritable();
    const resolved = resolvePath(path);
    if (this.devices.some((d) => resolvePath(d.device.path) === resolved)) {
      throw new PoolError(PoolErrorCode.DUPLICATE_DEVICE, 'is already a device of this pool', path);
    }
    const device = await FileDevice.open(path, opts.createSizeBytes === undefined ? {} : { create: { sizeBytes: opts.createSizeBytes } });
    try {
      await this.addBlockDevice(device, { force: opts.force });
    } catch (err) {
      await device.close().catch(() => undefined);
      throw err;
    }
  }

  /** Online growth: formats `device` and adds its slices. The pool owns the device from here on. */
  async addBlockDevice(device: BlockDevice, opts: { force?: boolean } = {}): Promise<void> {
    await this.mutex.run(async () => {
      this.checkWritable();
      checkFits(device, this.sliceBytes, this.firstSliceOffsetBytes);
      await checkEmpty(device, opts.force ?? false, this.poolId);
      const index = this.devices.reduce((m, d) => Math.max(m, d.label.deviceIndex), -1) + 1;
      const label = newLabel(this.poolId, this.randomBytes(DEVICE_ID_BYTES), index, device.sizeBytes, this.sliceBytes, this.firstSliceOffsetBytes);
      await formatDevice(device, label, opts.force ?? false);
      this.devices.push(newPoolDevice(device, label));
    });
  }

  // ---- filesystems --------------------------------------------------------------------------

  listFilesystems(): FilesystemInfo[] {
    const out: FilesystemInfo[] = [];
    for (const rec of this.fsById.values()) {
      const slices = rec.presentSlices();
      if (slices === 0) continue; // a createSpace whose first slice is still being written
      out.push({ fsId: rec.fsId, slices, bytes: slices * this.sliceDataBytes, complete: rec.firstMissing() === undefined });
    }
    return out.sort((a, b) => (a.fsId < b.fsId ? -1 : a.fsId > b.fsId ? 1 : 0));
  }

  /** Creates a filesystem's space with one slice. */
  async createSpace(fsId: bigint, opts: { maxBytes: number }): Promise<Space> {
    checkFsId(fsId);
    checkMaxBytes(opts.maxBytes);
    return this.mutex.run(() =>
      this.shared(async () => {
        this.checkWritable();
        if (this.coordinator) await this.rescan(); // another process may have created it
        if (this.fsById.has(fsId)) throw new PoolError(PoolErrorCode.FS_EXISTS, `filesystem ${fsId} already exists in the pool`);
        const rec = new FsRecord(fsId);
        // Registered before the header write: if the write fails the slice may still be on the
        // device as USED, and a later open will show the filesystem; mirror that now.
        this.fsById.set(fsId, rec);
        try {
          await this.allocateSliceLocked(rec);
        } catch (err) {
          if (rec.slices.length === 0) this.fsById.delete(fsId);
          throw err;
        }
        return new PoolSpace(this, rec, this.sliceDataBytes, opts.maxBytes);
      }),
    );
  }

  /**
   * Opens an existing filesystem's space. Several Spaces on one filesystem share its slice
   * table; keeping a single writer is the owner's job (leases, see ARCHITECTURE "Ownership").
   */
  async openSpace(fsId: bigint, opts: { maxBytes: number }): Promise<Space> {
    checkFsId(fsId);
    checkMaxBytes(opts.maxBytes);
    // Under the mutex so a concurrent createSpace or destroySpace is seen whole or not at all.
    return this.mutex.run(async () => {
      this.checkOpen();
      const rec = this.fsById.get(fsId);
      if (rec === undefined) throw new PoolError(PoolErrorCode.FS_NOT_FOUND, `filesystem ${fsId} is not in the pool`);
      const missing = rec.firstMissing();
      if (missing !== undefined) {
        throw new PoolError(
          PoolErrorCode.MISSING_SLICE,
          `filesystem ${fsId}: slice ${missing} was not found on any device, though slices up to ${Math.max(...rec.orphans.keys())} exist (is a device missing?)`,
        );
      }
      return new PoolSpace(this, rec, this.sliceDataBytes, opts.maxBytes);
    });
  }

  /** Frees every slice of the filesystem (highest index first); Spaces held on it stop working. */
  async destroySpace(fsId: bigint): Promise<void> {
    checkFsId(fsId);
    await this.mutex.run(() => this.shared(() => this.destroyLocked(fsId)));
  }

  private async destroyLocked(fsId: bigint): Promise<void> {
    this.checkWritable();
    if (this.coordinator) await this.rescan(); // its slices as they are now (a former owner may have grown it)
    const rec = this.fsById.get(fsId);
    if (rec === undefined) throw new PoolError(PoolErrorCode.FS_NOT_FOUND, `filesystem ${fsId} is not in the pool`);
    rec.destroyed = true;
    try {
      for (const index of [...rec.orphans.keys()].sort((a, b) => b - a)) {
        await this.freeSlice(rec.orphans.get(index)!);
        rec.orphans.delete(index);
      }
      while (rec.slices.length > 0) {
        await this.freeSlice(rec.slices[rec.slices.length - 1]!);
        rec.slices.pop();
      }
    } catch (err) {
      // What is left is a shorter filesystem; a new record lets destroy be retried.
      const rest = new FsRecord(fsId);
      rest.slices = rec.slices.slice();
      for (const [i, ref] of rec.orphans) rest.orphans.set(i, ref);
      this.fsById.set(fsId, rest);
      throw err;
    }
    this.fsById.delete(fsId);
  }

  /**
   * Rewrites the label copies that open found damaged or stale, from the copy in use (one copy at
   * a time, synced, so a valid copy exists throughout). Returns the paths of repaired devices.
   */
  async repairLabels(): Promise<string[]> {
    return this.mutex.run(async () => {
      this.checkWritable();
      const repaired: string[] = [];
      for (const pd of this.devices) {
        while (pd.staleLabelCopies.length > 0) {
          const k = pd.staleLabelCopies[0]!;
          await pd.device.write(encodeLabel(pd.label, k), LABEL_OFFSETS[k]);
          await pd.device.sync();
          pd.staleLabelCopies.shift();
          if (!repaired.includes(pd.device.path)) repaired.push(pd.device.path);
        }
      }
      return repaired;
    });
  }

  stats(): PoolStats {
    const devices = this.devices.map((d) => ({
      path: d.device.path,
      deviceIndex: d.label.deviceIndex,
      deviceId: d.label.deviceId.toString('hex'),
      sizeBytes: d.label.deviceSizeBytes,
      totalSlices: d.label.sliceCount,
      freeSlices: d.freeSlots,
    }));
    return {
      poolId: this.poolId.toString('hex'),
      sliceBytes: this.sliceBytes,
      sliceDataBytes: this.sliceDataBytes,
      devices,
      totalSlices: devices.reduce((n, d) => n + d.totalSlices, 0),
      freeSlices: devices.reduce((n, d) => n + d.freeSlices, 0),
      filesystems: this.fsById.size,
    };
  }

  /** Waits for allocation in progress, then closes every device. Spaces stop working. */
  async close(): Promise<void> {
    await this.mutex.run(async () => {
      if (this.closedFlag) return;
      this.closedFlag = true;
      await closeAll(this.devices.map((d) => d.device));
    });
  }

  /** SpaceHost: one more slice for `fs`. */
  async growSpace(fs: FsRecord): Promise<void> {
    await this.mutex.run(async () => {
      this.checkWritable();
      if (fs.destroyed) throw new PoolError(PoolErrorCode.FS_DESTROYED, `filesystem ${fs.fsId} was destroyed`);
      await this.allocateSlice(fs);
    });
  }

  // ---- internals ----------------------------------------------------------------------------

  /**
   * Re-reads every slice header and brings this process's view up to date with what other
   * processes sharing the pool did: slots they took or freed, filesystems they created, grew or
   * destroyed. A filesystem's record is updated in place, so Spaces already open on it see its
   * new slices. Call it before opening a filesystem another process wrote (a change of owner).
   */
  async refresh(): Promise<void> {
    await this.mutex.run(() => this.shared(() => this.rescan()));
  }

  /** Caller holds the mutex (and the coordinator's lock when there is one). */
  private async rescan(): Promise<void> {
    this.checkOpen();
    const found = new Map<bigint, Map<number, SliceRef>>();
    for (const pd of this.devices) {
      const scratch = newPoolDevice(pd.device, pd.label);
      await scanSlices(scratch, found);
      pd.slotState.set(scratch.slotState);
      pd.freeSlots = scratch.freeSlots;
      pd.freeHint = 0;
    }
    for (const [id, slices] of found) {
      const fresh = buildRecord(id, slices);
      const rec = this.fsById.get(id);
      if (rec === undefined || rec.destroyed) {
        this.fsById.set(id, fresh);
        continue;
      }
      rec.slices = fresh.slices;
      rec.orphans.clear();
      for (const [i, ref] of fresh.orphans) rec.orphans.set(i, ref);
    }
    for (const [id, rec] of this.fsById) {
      if (!found.has(id)) {
        rec.destroyed = true;
        this.fsById.delete(id);
      }
    }
  }

  /** Runs fn under the cross-process lock when the pool is shared (caller holds the mutex). */
  private shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.coordinator ? this.coordinator.exclusive(fn) : fn();
  }

  /** Caller holds the mutex. */
  private async allocateSlice(fs: FsRecord): Promise<void> {
    if (!this.coordinator) return this.allocateSliceLocked(fs);
    await this.coordinator.exclusive(async () => {
      // Another process may have taken slots, or grown this filesystem (a former owner).
      const known = fs.slices.length;
      await this.rescan();
      if (fs.slices.length !== known) return; // the rescan found a slice: the space grew
      await this.allocateSliceLocked(fs);
    });
  }

  /** Caller holds the mutex (and the coordinator's lock when shared). */
  private async allocateSliceLocked(fs: FsRecord): Promise<void> {
    if (fs.slices.length > MAX_SLICE_INDEX) throw new PoolFullError(`filesystem ${fs.fsId} has the most slices a filesystem can have`);
    // Spread filesystems over devices: the device with the most free slices, lowest index on ties.
    let best: PoolDevice | undefined;
    for (const d of this.devices) if (d.freeSlots > 0 && (best === undefined || d.freeSlots > best.freeSlots)) best = d;
    if (best === undefined) throw new PoolFullError();
    let slot = best.freeHint;
    while (best.slotState[slot] !== SLOT_FREE) slot++;
    best.slotState[slot] = SLOT_RESERVED;
    best.freeSlots--;
    best.freeHint = slot + 1;
    const index = fs.slices.length;
    const header = encodeSliceHeader({
      state: SliceState.USED,
      poolId: this.poolId,
      deviceId: best.label.deviceId,
      deviceIndex: best.label.deviceIndex,
      slot,
      fsId: fs.fsId,
      sliceIndex: index,
    });
    const offset = slotOffset(best.label, slot);
    await best.device.write(header, offset);
    await best.device.sync();
    best.slotState[slot] = SLOT_USED;
    fs.slices.push(sliceRef(best, slot));
  }

  /** Caller holds the mutex. */
  private async freeSlice(ref: SliceRef): Promise<void> {
    const pd = this.devices.find((d) => d.device === ref.device)!;
    const header = encodeSliceHeader(freeHeader(pd.label, ref.slot));
    pd.slotState[ref.slot] = SLOT_RESERVED;
    await pd.device.write(header, slotOffset(pd.label, ref.slot));
    await pd.device.sync();
    pd.slotState[ref.slot] = SLOT_FREE;
    pd.freeSlots++;
    if (ref.slot < pd.freeHint) pd.freeHint = ref.slot;
  }

  private checkOpen(): void {
    if (this.closedFlag) throw new PoolError(PoolErrorCode.CLOSED, 'pool is closed');
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.readOnly) throw new PoolError(PoolErrorCode.READ_ONLY, 'pool is open read-only');
  }
}

// ---- helpers ----------------------------------------------------------------------------------

function checkFsId(fsId: bigint): void {
  if (typeof fsId !== 'bigint' || fsId < 1n || fsId > MAX_FS_ID) {
    throw new PoolError(PoolErrorCode.INVALID_ARGUMENT, `filesystem id must be in [1, 2^64-1], got ${String(fsId)}`);
  }
}

function checkMaxBytes(maxBytes: number): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new PoolError(PoolErrorCode.INVALID_ARGUMENT, `maxBytes must be a positive integer, got ${maxBytes}`);
}

function checkDistinctPaths(paths: string[]): void {
  const seen = new Set<string>();
  for (const p of paths) {
    const r = resolvePath(p);
    if (seen.has(r)) throw new PoolError(PoolErrorCode.DUPLICATE_DEVICE, 'is listed twice', p);
    seen.add(r);
  }
}

function checkFits(d: BlockDevice, sliceBytes: number, firstSliceOffsetBytes: number): void {
  if (sliceCountFor(d.sizeBytes, sliceBytes, firstSliceOffsetBytes) < 1) {
    throw new PoolError(
      PoolErrorCode.DEVICE_TOO_SMALL,
      `${d.sizeBytes} bytes cannot hold one slice (needs ${firstSliceOffsetBytes + sliceBytes} bytes)`,
      d.path,
    );
  }
  if (sliceCountFor(d.sizeBytes, sliceBytes, firstSliceOffsetBytes) - 1 > MAX_SLICE_INDEX) {
    throw new PoolError(PoolErrorCode.INVALID_ARGUMENT, 'device has more than 2^32 slices: use a larger slice size', d.path);
  }
}

/**
 * Refuses a device that holds a label or any non-zero byte in its label area, unless `force`.
 * A device of `ownPool` is refused even with force: re-adding a member would wipe its slices.
 */
async function checkEmpty(d: BlockDevice, force: boolean, ownPool: Buffer | undefined): Promise<void> {
  const area = Buffer.alloc(Math.min(LABEL_AREA_BYTES, d.sizeBytes));
  await d.read(area, 0);
  for (const k of [0, 1] as const) {
    const off = LABEL_OFFSETS[k];
    if (off + RECORD_BYTES > area.length) continue;
    const dec = decodeLabel(area.subarray(off, off + RECORD_BYTES), k);
    if (dec.kind === 'ok' && ownPool !== undefined && dec.label.poolId.equals(ownPool)) {
      throw new PoolError(PoolErrorCode.DEVICE_NOT_EMPTY, 'already belongs to this pool', d.path);
    }
    if (dec.kind !== 'absent' && !force) {
      const owner = dec.kind === 'ok' ? ` of pool ${dec.label.poolId.toString('hex')}` : '';
      throw new PoolError(PoolErrorCode.DEVICE_NOT_EMPTY, `already carries a Ferry label${owner} (use force to overwrite)`, d.path);
    }
  }
  if (!force) {
    for (let i = 0; i < area.length; i++) {
      if (area[i] !== 0) throw new PoolError(PoolErrorCode.DEVICE_NOT_EMPTY, `holds data in its first ${area.length} bytes (use force to overwrite)`, d.path);
    }
  }
}

function newLabel(poolId: Buffer, deviceId: Buffer, deviceIndex: number, sizeBytes: number, sliceBytes: number, firstSliceOffsetBytes: number): DeviceLabel {
  return {
    poolId: Buffer.from(poolId),
    deviceId: Buffer.from(deviceId),
    deviceIndex,
    generation: 1n,
    deviceSizeBytes: sizeBytes,
    sliceBytes,
    firstSliceOffsetBytes,
    sliceCount: sliceCountFor(sizeBytes, sliceBytes, firstSliceOffsetBytes),
  };
}

function newPoolDevice(device: BlockDevice, label: DeviceLabel): PoolDevice {
  return { device, label, slotState: new Uint8Array(label.sliceCount), freeSlots: label.sliceCount, freeHint: 0, staleLabelCopies: [] };
}

function slotOffset(label: DeviceLabel, slot: number): number {
  return label.firstSliceOffsetBytes + slot * label.sliceBytes;
}

function sliceRef(pd: PoolDevice, slot: number): SliceRef {
  return { device: pd.device, deviceIndex: pd.label.deviceIndex, slot, dataOffsetBytes: slotOffset(pd.label, slot) + BLOCK_BYTES };
}

function freeHeader(label: DeviceLabel, slot: number) {
  return { state: SliceState.FREE, poolId: label.poolId, deviceId: label.deviceId, deviceIndex: label.deviceIndex, slot, fsId: 0n, sliceIndex: 0 };
}

/**
 * Order matters for crash safety: (force) erase old labels, then FREE headers on every slot,
 * sync, then label copy 0, sync, copy 1, sync. Until copy 0 is durable the device is not a pool;
 * after it, one valid copy always exists.
 */
async function formatDevice(d: BlockDevice, label: DeviceLabel, force: boolean): Promise<void> {
  if (force) {
    await d.write(Buffer.alloc(LABEL_AREA_BYTES), 0);
    await d.sync();
  }
  await forEachLimit(label.sliceCount, (slot) => d.write(encodeSliceHeader(freeHeader(label, slot)), slotOffset(label, slot)));
  await d.sync();
  for (const k of [0, 1] as const) {
    await d.write(encodeLabel(label, k), LABEL_OFFSETS[k]);
    await d.sync();
  }
}

async function readLabel(d: BlockDevice, warnings: string[], stale: Array<0 | 1>): Promise<DeviceLabel> {
  const decoded = [];
  for (const k of [0, 1] as const) {
    const off = LABEL_OFFSETS[k];
    if (off + RECORD_BYTES > d.sizeBytes) {
      decoded.push({ kind: 'absent' as const });
      continue;
    }
    const rec = Buffer.alloc(RECORD_BYTES);
    await d.read(rec, off);
    decoded.push(decodeLabel(rec, k));
  }
  const [c0, c1] = decoded as [ReturnType<typeof decodeLabel>, ReturnType<typeof decodeLabel>];
  let label: DeviceLabel;
  if (c0.kind === 'ok' && c1.kind === 'ok') {
    if (sameLabel(c0.label, c1.label)) label = c0.label;
    else if (c0.label.generation !== c1.label.generation) {
      const newer = c0.label.generation > c1.label.generation ? 0 : 1;
      label = newer === 0 ? c0.label : c1.label;
      stale.push(newer === 0 ? 1 : 0);
      warnings.push(`${d.path}: label copies differ; using copy ${newer} (generation ${label.generation})`);
    } else {
      throw new PoolError(PoolErrorCode.BAD_LABEL, 'the two label copies are both valid but disagree at the same generation', d.path);
    }
  } else if (c0.kind === 'ok') {
    label = c0.label;
    stale.push(1);
    warnings.push(`${d.path}: label copy 1 is ${describe(c1)}; using copy 0`);
  } else if (c1.kind === 'ok') {
    label = c1.label;
    stale.push(0);
    warnings.push(`${d.path}: label copy 0 is ${describe(c0)}; using copy 1`);
  } else if (c0.kind === 'absent' && c1.kind === 'absent') {
    throw new PoolError(PoolErrorCode.NOT_A_POOL, 'is not a Ferry pool device (no label)', d.path);
  } else if (c0.kind === 'unsupported' || c1.kind === 'unsupported') {
    const v = c0.kind === 'unsupported' ? c0.version : (c1 as { version: number }).version;
    throw new PoolError(PoolErrorCode.UNSUPPORTED_VERSION, `label format version ${v} is not supported by this version of Ferry`, d.path);
  } else {
    throw new PoolError(PoolErrorCode.BAD_LABEL, `both label copies are damaged (copy 0: ${describe(c0)}; copy 1: ${describe(c1)})`, d.path);
  }
  if (d.sizeBytes < label.deviceSizeBytes) {
    throw new PoolError(PoolErrorCode.TRUNCATED, `is ${d.sizeBytes} bytes but its label records ${label.deviceSizeBytes} (truncated?)`, d.path);
  }
  return label;
}

function describe(dec: ReturnType<typeof decodeLabel>): string {
  switch (dec.kind) {
    case 'ok':
      return 'valid';
    case 'absent':
      return 'missing (no magic)';
    case 'corrupt':
      return `damaged (${dec.reason})`;
    case 'unsupported':
      return `of unsupported version ${dec.version}`;
  }
}

async function scanSlices(pd: PoolDevice, found: Map<bigint, Map<number, SliceRef>>): Promise<void> {
  const { label, device } = pd;
  // Read in fixed chunks so memory stays bounded however large the device, and validate in slot
  // order so the first bad header reported is always the same one.
  const records = Buffer.alloc(SCAN_CHUNK_SLOTS * RECORD_BYTES);
  for (let base = 0; base < label.sliceCount; base += SCAN_CHUNK_SLOTS) {
    const n = Math.min(SCAN_CHUNK_SLOTS, label.sliceCount - base);
    await forEachLimit(n, (i) => device.read(records.subarray(i * RECORD_BYTES, (i + 1) * RECORD_BYTES), slotOffset(label, base + i)));
    for (let i = 0; i < n; i++) checkSlot(pd, base + i, records.subarray(i * RECORD_BYTES, (i + 1) * RECORD_BYTES), found);
  }
}

function checkSlot(pd: PoolDevice, slot: number, record: Buffer, found: Map<bigint, Map<number, SliceRef>>): void {
  const { label, device } = pd;
  const where = `slice header of slot ${slot} (byte ${slotOffset(label, slot)})`;
  const dec = decodeSliceHeader(record);
  if (dec.kind === 'unsupported') {
    throw new PoolError(PoolErrorCode.UNSUPPORTED_VERSION, `${where}: format version ${dec.version} is not supported`, device.path);
  }
  if (dec.kind === 'corrupt') throw new PoolError(PoolErrorCode.BAD_SLICE_HEADER, `${where}: ${dec.reason}`, device.path);
  const h = dec.header;
  if (!h.poolId.equals(label.poolId) || !h.deviceId.equals(label.deviceId) || h.deviceIndex !== label.deviceIndex || h.slot !== slot) {
    throw new PoolError(
      PoolErrorCode.BAD_SLICE_HEADER,
      `${where}: names pool ${h.poolId.toString('hex')} device ${h.deviceId.toString('hex')} index ${h.deviceIndex} slot ${h.slot}, not this location (misdirected or stale write)`,
      device.path,
    );
  }
  if (h.state === SliceState.FREE) return;
  pd.slotState[slot] = SLOT_USED;
  pd.freeSlots--;
  let slices = found.get(h.fsId);
  if (slices === undefined) found.set(h.fsId, (slices = new Map()));
  const other = slices.get(h.sliceIndex);
  if (other !== undefined) {
    throw new PoolError(
      PoolErrorCode.BAD_SLICE_HEADER,
      `${where}: slice ${h.sliceIndex} of filesystem ${h.fsId} is also claimed by device index ${other.deviceIndex} slot ${other.slot}`,
      device.path,
    );
  }
  slices.set(h.sliceIndex, sliceRef(pd, slot));
}

/**
 * Builds a filesystem's record from the slices found by index. Only the contiguous prefix goes
 * into the (dense) slice table; slices past a gap are kept aside, so a damaged or hostile index
 * (up to 2^32) never makes us allocate a table that large.
 */
function buildRecord(fsId: bigint, slices: Map<number, SliceRef>): FsRecord {
  const rec = new FsRecord(fsId);
  for (let i = 0; slices.has(i); i++) rec.slices.push(slices.get(i)!);
  for (const [index, ref] of slices) if (index >= rec.slices.length) rec.orphans.set(index, ref);
  return rec;
}

/** Runs fn(0..count-1) with at most IO_CONCURRENCY in flight; rejects with the first failure. */
async function forEachLimit(count: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(IO_CONCURRENCY, count) }, worker));
}

async function openAll(paths: string[], open: (p: string) => Promise<BlockDevice>): Promise<BlockDevice[]> {
  const out: BlockDevice[] = [];
  try {
    for (const p of paths) out.push(await open(p));
  } catch (err) {
    await closeAll(out);
    throw err;
  }
  return out;
}

async function closeAll(devices: BlockDevice[]): Promise<void> {
  const results = await Promise.allSettled(devices.map((d) => d.close()));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
