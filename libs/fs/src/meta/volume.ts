/**
 * The storage layer under the filesystem engine: an ordered, transactional key-value store for
 * metadata plus block allocation and raw data I/O, all on one `Space` (the filesystem's slices).
 *
 * Contract with libs/fs/src/engine:
 * - Keys and values are byte strings; keys compare as unsigned bytes (memcmp, shorter first).
 * - `apply(tx)` installs the transaction in memory atomically (reads see it at once, in order
 *   of apply) and appends it to the write-ahead log; it resolves with the transaction's LSN.
 *   `durable(lsn)` resolves once the log covering that LSN is durable (group commit: many
 *   transactions share one durable log write). A transaction is acknowledged to a client only after
 *   `durable`. Recovery never maps a block whose data was not durable: before a log write
 *   that covers a transaction carrying `allocated` data blocks, the volume either syncs the
 *   data written to them or puts their checksums in the record, which recovery verifies
 *   (a sync issued together with the log write then covers the data; libs/fs/FORMAT-meta.md
 *   "Durability order").
 * - `allocate` reserves blocks in memory only. If the caller never applies a transaction naming
 *   them in `allocated`, it must `unreserve` them. Blocks named in a transaction's `freed`
 *   become reusable only after the next checkpoint (the checkpointed tree may still name them).
 * - Recovery (`openVolume`) = newest valid superblock + replay of the log tail; it re-applies
 *   `allocated`/`freed` of replayed transactions, so the allocator matches the tree.
 * - A failed log or checkpoint write is fatal for the volume: it turns read-only-failed (every
 *   later apply throws VolumeFailedError) rather than run on in an unknown state.
 */

export interface Extent {
  /** First block number (logical block address in units of blockBytes). */
  block: number;
  count: number;
}

export interface Transaction {
  puts: Array<[key: Buffer, value: Buffer]>;
  dels: Buffer[];
  allocated?: Extent[];
  freed?: Extent[];
}

export interface VolumeStats {
  blockBytes: number;
  totalBlocks: number; // addressable now (the space may grow by slices up to maxBlocks)
  maxBlocks: number; // the filesystem's size limit in blocks
  freeBlocks: number; // of maxBlocks, not counting metadata overhead already used
  lastLsn: bigint;
  checkpointLsn: bigint;
}

export interface Volume {
  readonly blockBytes: number; // 4096
  /** Owner epoch in the superblock (bumped by each new owner, see ARCHITECTURE "Ownership"). */
  readonly epoch: bigint;
  /** Random per open: feeds the write verifier. */
  readonly bootId: Buffer;

  get(key: Buffer): Promise<Buffer | undefined>;
  /**
   * Visit keys in [from, to) ascending (to undefined = to the end) until `visit` returns false.
   * Sees every applied transaction.
   */
  scan(from: Buffer, to: Buffer | undefined, visit: (key: Buffer, value: Buffer) => boolean): Promise<void>;

  apply(tx: Transaction): Promise<bigint>;
  durable(lsn: bigint): Promise<void>;

  /** Reserve `blocks` blocks, preferring contiguity near `hint`; may grow the space. Throws
   * VolumeFullError when the size limit is reached. May return several extents. */
  allocate(blocks: number, hint?: number): Promise<Extent[]>;
  unreserve(extents: Extent[]): void;

  writeBlocks(block: number, data: Buffer): Promise<void>;
  readBlocks(block: number, buf: Buffer): Promise<void>;
  /** Optional: readBlocks that also returns each block's CRC-32C when the storage computes them off the event loop (undefined: it did not). */
  readBlocksWithCrcs?(block: number, buf: Buffer): Promise<Uint32Array | undefined>;

  stats(): VolumeStats;
  /** Write dirty pages, flip the superblock, trim the log. Also runs by itself. */
  checkpoint(): Promise<void>;
  close(): Promise<void>;
}

export class VolumeFullError extends Error {
  constructor(message = 'filesystem is full') {
    super(message);
    this.name = 'VolumeFullError';
  }
}

export class VolumeFailedError extends Error {
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = 'VolumeFailedError';
  }
}

/** A structure on the device failed validation (bad checksum, bad magic, torn page). */
export class CorruptionError extends Error {
  constructor(
    readonly structure: string,
    message: string,
  ) {
    super(`${structure}: ${message}`);
    this.name = 'CorruptionError';
  }
}
