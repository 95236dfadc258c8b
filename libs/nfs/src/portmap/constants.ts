/** Portmapper protocol v2 layout constants (RFC 1833 §3). */

export const PMAP_PROG = 100_000;
export const PMAP_VERS = 2;
/** RFC 1833 §3: the portmapper's well-known port, on TCP and UDP. */
export const PMAP_PORT = 111;

/** RFC 1833 §3.2: procedure numbers of program 100000 version 2. */
export enum PmapProc {
  PMAPPROC_NULL = 0,
  PMAPPROC_SET = 1,
  PMAPPROC_UNSET = 2,
  PMAPPROC_GETPORT = 3,
  PMAPPROC_DUMP = 4,
  PMAPPROC_CALLIT = 5,
}

export const PMAP_PROCEDURE_NAMES: readonly string[] = ['NULL', 'SET', 'UNSET', 'GETPORT', 'DUMP', 'CALLIT'];

/** RFC 1833 §3.1: mapping.prot values. */
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
