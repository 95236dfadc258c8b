/**
 * The portmapper's table of (prog, vers, prot) → port mappings (RFC 1833 §3).
 *
 * Invariants: at most one mapping per (prog, vers, prot), as PMAPPROC_SET requires; at most
 * `maxMappings` entries, so remote SET calls cannot grow it without bound; ports fit 16 bits.
 * DUMP lists mappings in the order they were set.
 */
export interface PortmapMapping {
  prog: number;
  vers: number;
  prot: number;
  port: number;
}

const key = (prog: number, vers: number, prot: number): string => `${prog}:${vers}:${prot}`;

export class PortmapRegistry {
  private readonly mappings = new Map<string, PortmapMapping>();

  constructor(readonly maxMappings = 1024) {}

  get size(): number {
    return this.mappings.size;
  }

  /** RFC 1833 §3.2 PMAPPROC_SET: false if (prog, vers, prot) is already mapped. */
  set(m: PortmapMapping): boolean {
    if (!(m.port >= 0 && m.port <= 0xffff)) return false;
    const k = key(m.prog, m.vers, m.prot);
    if (this.mappings.has(k) || this.mappings.size >= this.maxMappings) return false;
    this.mappings.set(k, { prog: m.prog, vers: m.vers, prot: m.prot, port: m.port });
    return true;
  }

  /** RFC 1833 §3.2 PMAPPROC_UNSET: removes every protocol's mapping of (prog, vers). */
  unset(prog: number, vers: number): boolean {
    let removed = false;
    for (const [k, m] of this.mappings) {
      if (m.prog === prog && m.vers === vers) {
        this.mappings.delete(k);
        removed = true;
      }
    }
    return removed;
  }

  /** RFC 1833 §3.2 PMAPPROC_GETPORT: 0 means not registered. */
  getPort(prog: number, vers: number, prot: number): number {
    return this.mappings.get(key(prog, vers, prot))?.port ?? 0;
  }

  dump(): PortmapMapping[] {
    return [...this.mappings.values()].map((m) => ({ ...m }));
  }
}
