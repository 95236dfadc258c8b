/**
 * Export rules: which clients may use which filesystem, and as whom.
 *
 * Invariants: an ExportTable is immutable once built (setExports swaps the whole table, so a
 * call sees one consistent set of rules); client patterns are parsed once at build time, and a
 * pattern we cannot parse never matches (fail closed) and is reported in `problems`.
 */
import { BlockList, isIP } from 'node:net';

export interface ExportConfig {
  path: string;
  fsid: bigint;
  clients: string[]; // IPs, CIDRs (v4 and v6), '*'
  access: 'rw' | 'ro';
  rootSquash: boolean;
  allSquash: boolean;
  anonUid: number;
  anonGid: number;
  secure: boolean;
}

/** The credentials a call runs with, after squashing. */
export interface User {
  uid: number;
  gid: number;
  gids: readonly number[];
}

/** Ports below this are privileged (the "secure" export option). */
export const PRIVILEGED_PORT_LIMIT = 1024;

/** Distinct client addresses whose verdict a matcher remembers before it starts over. */
const MATCH_CACHE_ENTRIES = 4096;

class ClientMatcher {
  private readonly any: boolean;
  private readonly list = new BlockList();
  /**
   * Verdicts by address: every NFS call is checked, and BlockList.check builds a SocketAddress
   * each time (a profile showed it per call). The matcher is immutable and rebuilt with the
   * export table, so a verdict never goes stale; the map is cleared when full, so it is bounded.
   */
  private readonly verdicts = new Map<string, boolean>();

  constructor(patterns: readonly string[], problems: string[]) {
    let any = false;
    for (const raw of patterns) {
      const p = raw.trim();
      if (p === '*') {
        any = true;
        continue;
      }
      const slash = p.indexOf('/');
      const addr = slash < 0 ? p : p.slice(0, slash);
      const fam = isIP(addr);
      if (fam === 0) {
        problems.push(`client pattern ${JSON.stringify(raw)} is not an IP or CIDR (host names are not supported)`);
        continue;
      }
      const type = fam === 4 ? 'ipv4' : 'ipv6';
      if (slash < 0) {
        this.list.addAddress(addr, type);
        continue;
      }
      const prefixText = p.slice(slash + 1);
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (!(prefix >= 0 && prefix <= (fam === 4 ? 32 : 128))) {
        problems.push(`client pattern ${JSON.stringify(raw)} has a bad prefix length`);
        continue;
      }
      this.list.addSubnet(addr, prefix, type);
    }
    this.any = any;
  }

  matches(address: string): boolean {
    if (this.any) return true;
    const known = this.verdicts.get(address);
    if (known !== undefined) return known;
    const fam = isIP(address);
    const verdict = fam !== 0 && this.list.check(address, fam === 4 ? 'ipv4' : 'ipv6');
    if (this.verdicts.size >= MATCH_CACHE_ENTRIES) this.verdicts.clear();
    this.verdicts.set(address, verdict);
    return verdict;
  }
}

export interface ExportEntry {
  readonly config: ExportConfig;
  readonly path: string; // normalized
  readonly matcher: { matches(address: string): boolean };
}

/** Strips trailing slashes (but keeps "/") so "/a/" and "/a" name one export. */
export function normalizeExportPath(p: string): string {
  let s = p;
  while (s.length > 1 && s.endsWith('/')) s = s.slice(0, -1);
  return s;
}

export class ExportTable {
  readonly entries: readonly ExportEntry[];
  readonly problems: string[] = [];
  private readonly byPath = new Map<string, ExportEntry>();
  private readonly byFsid = new Map<bigint, ExportEntry[]>();

  constructor(configs: readonly ExportConfig[]) {
    const entries: ExportEntry[] = [];
    for (const config of configs) {
      const path = normalizeExportPath(config.path);
      const e: ExportEntry = { config, path, matcher: new ClientMatcher(config.clients, this.problems) };
      if (this.byPath.has(path)) {
        this.problems.push(`export path ${path} is listed twice; the first one wins`);
        continue;
      }
      entries.push(e);
      this.byPath.set(path, e);
      const list = this.byFsid.get(config.fsid) ?? [];
      list.push(e);
      this.byFsid.set(config.fsid, list);
    }
    this.entries = entries;
  }

  byExportPath(path: string): ExportEntry | undefined {
    return this.byPath.get(normalizeExportPath(path));
  }

  /** All exports of a filesystem (several paths may export one filesystem with other rules). */
  forFsid(fsid: bigint): readonly ExportEntry[] | undefined {
    return this.byFsid.get(fsid);
  }
}

/** Whether the client may use this export: address rule, then the secure-port rule. */
export function clientAllowed(e: ExportEntry, address: string, port: number): boolean {
  if (!e.matcher.matches(address)) return false;
  if (e.config.secure && port >= PRIVILEGED_PORT_LIMIT) return false;
  return true;
}

/**
 * The credentials of a call on this export (knfsd's nfsd_setuser): all_squash maps everyone to
 * the anonymous ids; root_squash maps uid 0 and gid 0 (primary and supplementary) to them.
 * `caller` undefined means AUTH_NONE, which is always anonymous.
 */
export function squash(config: ExportConfig, caller: User | undefined): User {
  if (caller === undefined || config.allSquash) return { uid: config.anonUid, gid: config.anonGid, gids: [] };
  if (!config.rootSquash) return caller;
  const uid = caller.uid === 0 ? config.anonUid : caller.uid;
  const gid = caller.gid === 0 ? config.anonGid : caller.gid;
  const gids = caller.gids.includes(0) ? caller.gids.map((g) => (g === 0 ? config.anonGid : g)) : caller.gids;
  return { uid, gid, gids };
}
