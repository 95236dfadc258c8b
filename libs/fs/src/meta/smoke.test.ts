import { describe, expect, it } from 'vitest';
import { formatVolume, openVolume, MemorySpace } from './index';

describe('smoke', () => {
  it('puts and gets', async () => {
    const space = new MemorySpace(8 * 1024 * 1024, 1);
    await formatVolume(space, { volumeId: 7n, maxBytes: 64 * 1024 * 1024 });
    const v = await openVolume(space, { cachePages: 64 });
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const k = Buffer.from(`key${String(i).padStart(8, '0')}`);
      await v.apply({ puts: [[k, Buffer.alloc(100, i & 255)]], dels: [] });
    }
    await v.durable(v.stats().lastLsn);
    expect((await v.get(Buffer.from('key00000005')))?.[0]).toBe(5);
    let c = 0;
    await v.scan(Buffer.alloc(0), undefined, () => { c++; return true; });
    expect(c).toBe(n);
    await v.close();
    const w = await openVolume(space, { cachePages: 64 });
    expect((await w.get(Buffer.from('key00000005')))?.[0]).toBe(5);
    c = 0;
    await w.scan(Buffer.alloc(0), undefined, () => { c++; return true; });
    expect(c).toBe(n);
    await w.close();
  });
});
