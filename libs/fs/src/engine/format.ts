/**
 * Creating and opening an engine filesystem on a volume.
 * Formatting writes the engine superblock record and the root directory in one transaction and
 * returns only once it is durable; opening refuses a volume without them.
 */
import { FileType, type FileSystem, type Timespec } from '../api';
import type { Volume } from '../meta/volume';
import { Engine, type FileSystemOpenOptions } from './file-system';
import { BLOCK_BYTES, FORMAT_VERSION, ROOT_INO, SUPER_KEY, encodeInode, encodeSuper, inodeKey } from './layout';

export interface FileSystemFormatOptions {
  fsid: bigint;
  clock: () => Timespec;
  rootMode?: number;
  rootUid?: number;
  rootGid?: number;
}

export async function formatFileSystem(volume: Volume, opts: FileSystemFormatOptions): Promise<void> {
  if (volume.blockBytes !== BLOCK_BYTES) throw new Error(`engine needs ${BLOCK_BYTES}-byte blocks, volume has ${volume.blockBytes}`);
  if (await volume.get(SUPER_KEY)) throw new Error('volume already holds a filesystem');
  const now = opts.clock();
  const root = encodeInode({
    ino: ROOT_INO,
    type: FileType.DIR,
    mode: (opts.rootMode ?? 0o755) & 0o7777,
    nlink: 2,
    uid: opts.rootUid ?? 0,
    gid: opts.rootGid ?? 0,
    generation: 1,
    size: BLOCK_BYTES,
    usedBlocks: 0,
    rdevMajor: 0,
    rdevMinor: 0,
    atime: now,
    mtime: now,
    ctime: now,
    parent: ROOT_INO,
  });
  const lsn = await volume.apply({
    puts: [
      [SUPER_KEY, encodeSuper({ version: FORMAT_VERSION, nextIno: ROOT_INO + 1n, inodeCount: 1n })],
      [inodeKey(ROOT_INO), root],
    ],
    dels: [],
  });
  await volume.durable(lsn);
}

export async function openFileSystem(volume: Volume, opts: FileSystemOpenOptions): Promise<FileSystem> {
  return Engine.open(volume, opts);
}
