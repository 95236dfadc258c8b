/**
 * The MOUNT protocol's record of who mounted what (DUMP, UMNT, UMNTALL; RFC 1813 appendix I).
 * It is advisory (clients need not unmount), so it is bounded: at most `maxEntries` pairs of
 * (client address, path), the oldest forgotten first.
 */
import type { Mountbody } from './xdr-types';

export class MountList {
  /** key "address\0path" → entry; insertion order = age (a re-mount refreshes). */
  private readonly mounts = new Map<string, Mountbody>();

  constructor(private readonly maxEntries = 4096) {}

  add(client: string, path: string): void {
    const k = `${client}\0${path}`;
    this.mounts.delete(k);
    this.mounts.set(k, { ml_hostname: client, ml_directory: path });
    if (this.mounts.size > this.maxEntries) {
      const oldest = this.mounts.keys().next();
      if (oldest.done !== true) this.mounts.delete(oldest.value);
    }
  }

  remove(client: string, path: string): void {
    this.mounts.delete(`${client}\0${path}`);
  }

  removeAll(client: string): void {
    for (const [k, m] of this.mounts) if (m.ml_hostname === client) this.mounts.delete(k);
  }

  list(): Mountbody[] {
    return [...this.mounts.values()];
  }
}
