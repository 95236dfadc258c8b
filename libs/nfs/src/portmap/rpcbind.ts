/**
 * Talking to the host's rpcbind with portmapper v2 (RFC 1833 §3): register our programs, take
 * them back, and tell whether anything answers on port 111.
 *
 * Registration first UNSETs each (prog, vers): PMAPPROC_SET refuses a tuple that is already
 * mapped, and a mapping left by a previous run of ours that crashed would otherwise block us.
 */
import type { XdrReader, XdrWriter } from '@ferry/xdr';
import { RpcClient, type RpcResult } from '@ferry/oncrpc';
import { PMAP_PORT, PMAP_PROG, PMAP_VERS, PmapProc } from './constants';
import { readPmapList, writeMapping } from './program';
import type { PortmapMapping } from './registry';

export interface RpcbindOptions {
  host?: string;
  port?: number;
  timeoutMs?: number;
  transport?: 'udp' | 'tcp';
}

export class PortmapRefusedError extends Error {
  constructor(readonly mapping: PortmapMapping) {
    super(`rpcbind refused mapping prog ${mapping.prog} vers ${mapping.vers} prot ${mapping.prot} port ${mapping.port}`);
    this.name = 'PortmapRefusedError';
  }
}

type Caller = (proc: PmapProc, writeArgs: (w: XdrWriter) => void) => Promise<RpcResult>;

async function withPortmap<T>(opts: RpcbindOptions, use: (call: Caller) => Promise<T>): Promise<T> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? PMAP_PORT;
  const timeoutMs = opts.timeoutMs ?? 2000;
  if (opts.transport === 'tcp') {
    const client = await RpcClient.connectTcp(host, port, { timeoutMs });
    try {
      return await use((proc, writeArgs) => client.call(PMAP_PROG, PMAP_VERS, proc, writeArgs));
    } finally {
      await client.close();
    }
  }
  return use((proc, writeArgs) => RpcClient.callUdp(host, port, PMAP_PROG, PMAP_VERS, proc, writeArgs, { timeoutMs }));
}

const readBool = (r: XdrReader): boolean => r.bool();

function uniqueProgVers(mappings: readonly PortmapMapping[]): Array<[number, number]> {
  const seen = new Map<string, [number, number]>();
  for (const m of mappings) seen.set(`${m.prog}:${m.vers}`, [m.prog, m.vers]);
  return [...seen.values()];
}

/** Register mappings with rpcbind (PMAPPROC_UNSET then PMAPPROC_SET); throws if one is refused. */
export async function registerWithRpcbind(mappings: readonly PortmapMapping[], opts: RpcbindOptions = {}): Promise<void> {
  await withPortmap(opts, async (call) => {
    for (const [prog, vers] of uniqueProgVers(mappings)) {
      await call(PmapProc.PMAPPROC_UNSET, (w) => writeMapping(w, { prog, vers, prot: 0, port: 0 }));
    }
    for (const m of mappings) {
      const { reader } = await call(PmapProc.PMAPPROC_SET, (w) => writeMapping(w, m));
      if (!readBool(reader)) throw new PortmapRefusedError(m);
    }
  });
}

/** Remove every mapping of the (prog, vers) pairs in `mappings` (PMAPPROC_UNSET). */
export async function unregisterFromRpcbind(mappings: readonly PortmapMapping[], opts: RpcbindOptions = {}): Promise<void> {
  await withPortmap(opts, async (call) => {
    for (const [prog, vers] of uniqueProgVers(mappings)) {
      await call(PmapProc.PMAPPROC_UNSET, (w) => writeMapping(w, { prog, vers, prot: 0, port: 0 }));
    }
  });
}

/** PMAPPROC_GETPORT: 0 when the program is not registered. */
export async function getPortFromRpcbind(
  prog: number,
  vers: number,
  prot: number,
  opts: RpcbindOptions = {},
): Promise<number> {
  return withPortmap(opts, async (call) => {
    const { reader } = await call(PmapProc.PMAPPROC_GETPORT, (w) => writeMapping(w, { prog, vers, prot, port: 0 }));
    return reader.uint();
  });
}

/** PMAPPROC_DUMP: every mapping rpcbind holds. */
export async function dumpRpcbind(opts: RpcbindOptions = {}): Promise<PortmapMapping[]> {
  return withPortmap(opts, async (call) => readPmapList((await call(PmapProc.PMAPPROC_DUMP, () => {})).reader));
}

/** True when something answers PMAPPROC_NULL (default: UDP 127.0.0.1:111, 500 ms). */
export async function probeRpcbind(opts: RpcbindOptions = {}): Promise<boolean> {
  try {
    await withPortmap({ timeoutMs: 500, ...opts }, (call) => call(PmapProc.PMAPPROC_NULL, () => {}));
    return true;
  } catch {
    return false;
  }
}
