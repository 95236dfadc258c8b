/**
 * Portmapper program 100000 version 2 (RFC 1833 §3) over an in-memory registry.
 *
 * SET and UNSET change the table only for callers on loopback: anyone else could otherwise
 * point NFS clients at a port of their choosing. As rpcbind does, a refused change answers
 * FALSE rather than an RPC error.
 *
 * CALLIT is silent: forwarding a call on behalf of a remote host makes the portmapper a
 * UDP amplifier and lets the caller reach local services with our loopback address (the
 * classic portmap proxy attack). RFC 1833 §3.2 has CALLIT send no reply when the call is
 * not executed, so silence is both safe and within the protocol.
 */
import { XdrError, type XdrReader, type XdrWriter } from '@ferry/xdr';
import { NoReplyError, type ClientAddress, type ProcedureHandler, type RpcCall, type RpcProgram } from '@ferry/oncrpc';
import { PMAP_PROCEDURE_NAMES, PMAP_PROG, PMAP_VERS, PmapProc } from './constants';
import type { PortmapMapping, PortmapRegistry } from './registry';

/** RFC 1833 §3.1: struct mapping. */
export function readMapping(r: XdrReader): PortmapMapping {
  return { prog: r.uint(), vers: r.uint(), prot: r.uint(), port: r.uint() };
}

export function writeMapping(w: XdrWriter, m: PortmapMapping): void {
  w.uint(m.prog).uint(m.vers).uint(m.prot).uint(m.port);
}

/** RFC 1833 §3.1: pmaplist is a linked list: each entry is preceded by TRUE, the end by FALSE. */
export function writePmapList(w: XdrWriter, mappings: readonly PortmapMapping[]): void {
  for (const m of mappings) {
    w.bool(true);
    writeMapping(w, m);
  }
  w.bool(false);
}

export function readPmapList(r: XdrReader, maxEntries = 4096): PortmapMapping[] {
  const out: PortmapMapping[] = [];
  while (r.bool()) {
    if (out.length >= maxEntries) throw new XdrError(`pmaplist longer than ${maxEntries}`);
    out.push(readMapping(r));
  }
  return out;
}

export function isLoopback(client: ClientAddress): boolean {
  return client.address === '::1' || (client.family === 'IPv4' && client.address.startsWith('127.'));
}

export function createPortmapProgram(registry: PortmapRegistry): RpcProgram {
  const procedures: ProcedureHandler[] = [];
  procedures[PmapProc.PMAPPROC_NULL] = (call: RpcCall) => call.args.expectEnd();
  procedures[PmapProc.PMAPPROC_SET] = (call, w) => {
    const m = readMapping(call.args);
    call.args.expectEnd();
    w.bool(isLoopback(call.client) && registry.set(m));
  };
  procedures[PmapProc.PMAPPROC_UNSET] = (call, w) => {
    // RFC 1833 §3.2: prot and port are ignored for UNSET.
    const m = readMapping(call.args);
    call.args.expectEnd();
    w.bool(isLoopback(call.client) && registry.unset(m.prog, m.vers));
  };
  procedures[PmapProc.PMAPPROC_GETPORT] = (call, w) => {
    // RFC 1833 §3.2: the port field of the argument is ignored.
    const m = readMapping(call.args);
    call.args.expectEnd();
    w.uint(registry.getPort(m.prog, m.vers, m.prot));
  };
  procedures[PmapProc.PMAPPROC_DUMP] = (call, w) => {
    call.args.expectEnd();
    writePmapList(w, registry.dump());
  };
  procedures[PmapProc.PMAPPROC_CALLIT] = () => {
    throw new NoReplyError('PMAPPROC_CALLIT is not forwarded');
  };
  return {
    prog: PMAP_PROG,
    name: 'portmap',
    versions: [{ vers: PMAP_VERS, procedures }],
    procedureNames: PMAP_PROCEDURE_NAMES,
  };
}
