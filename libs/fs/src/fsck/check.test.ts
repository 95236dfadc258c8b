// Goal: fsck is clean on healthy filesystems and names each injected inconsistency. Method:
// build a small filesystem through the engine, then damage the volume directly (wrong nlink,
// dangling entry, unreachable directory, bad block, undecodable key, leaked block) and read the
// report; progress callbacks must reach the total.
import { describe, expect, it } from 'vitest';
import { StableHow } from '../api';
import { decodeInode, encodeInode, inodeKey } from '../engine/layout';
import { makeFs, owner } from '../engine/test-helpers';
import { checkFileSystem } from './check';

async function sample() {
  const env = await makeFs();
  const { fs } = env;
  const d = await fs.mkdir(fs.root, 'd', {}, owner);
  const f = await fs.create(d.attr, 'f', { how: 'unchecked', attrs: {} }, owner);
  await fs.write(f.attr, 0n, Buffer.alloc(10000, 9), StableHow.FILE_SYNC);
  await fs.link(f.attr, fs.root, 'f-link');
  await fs.symlink(fs.root, 's', 'd/f', {}, owner);
  return { ...env, d, f };
}

describe('fsck', () => {
  it('is clean on a healthy filesystem and reports progress to the total', async () => {
    const { volume } = await sample();
    let last: [number, number] = [0, 0];
    const rep = await checkFileSystem(volume, { onProgress: (done, total) => (last = [done, total]) });
    expect(rep).toMatchObject({ clean: true, problems: [] });
    expect(rep.counts).toMatchObject({ inodes: 4, directories: 2, entries: 4, dataBlocks: 3 });
    expect(last[0]).toBe(last[1]);
    expect(last[1]).toBeGreaterThan(0);
  });

  it('finds a wrong link count', async () => {
    const { volume, f } = await sample();
    const r = decodeInode(f.attr.ino, (await volume.get(inodeKey(f.attr.ino)))!);
    volume.rawPut(inodeKey(f.attr.ino), encodeInode({ ...r, nlink: 5 }));
    const rep = await checkFileSystem(volume);
    expect(rep.clean).toBe(false);
    expect(rep.problems).toContain(`inode ${f.attr.ino}: nlink 5 but 2 directory entries`);
  });

  it('finds a dangling entry and an unreachable directory', async () => {
    const { volume, f, d } = await sample();
    volume.rawDelete(inodeKey(f.attr.ino));
    const r = decodeInode(d.attr.ino, (await volume.get(inodeKey(d.attr.ino)))!);
    const sub = { ...r, ino: 999n, parent: 998n };
    volume.rawPut(inodeKey(999n), encodeInode(sub));
    const rep = await checkFileSystem(volume);
    const text = rep.problems.join('\n');
    expect(text).toContain(`entry "f" names missing inode ${f.attr.ino}`);
    expect(text).toContain('directory 999: not reachable from the root');
    expect(text).toMatch(/extent of missing inode/);
  });

  it('finds a bad data block, an undecodable key and a leaked block', async () => {
    const { volume } = await sample();
    const used = volume.usedExtents();
    volume.corruptBlock(used[0]!.block);
    volume.rawPut(Buffer.from([0x09, 1, 2]), Buffer.from('junk'));
    const leak = await volume.allocate(1);
    await volume.apply({ puts: [], dels: [], allocated: leak });
    const rep = await checkFileSystem(volume);
    const text = rep.problems.join('\n');
    expect(text).toMatch(/fails its checksum/);
    expect(text).toMatch(/key 090102: does not decode/);
    expect(text).toMatch(/1 blocks used in the allocator but named by no extent/);
  });
});
