/**
 * How a Ferry process makes its MOUNT and NFS ports known (RFC 1833): a system rpcbind that
 * answers on the portmapper port gets the mappings; otherwise the process serves the portmapper
 * itself when it can bind the port; otherwise it says so, and clients need port= and mountport=.
 * The data mover and the load director both start this way.
 *
 * Invariants: never throws for a port that is taken or refused (NFS is served either way, and the
 * log says what clients need); `close()` undoes exactly what was done (unregisters from the
 * system rpcbind, or closes our own portmapper), and is safe to call more than once.
 */
import { RpcServer, type RpcLogger } from '@ferry/oncrpc';
import { MOUNT_PROGRAM } from '../mount3/xdr-types';
import { NFS_PROGRAM } from '../nfs3/xdr-types';
import { IPPROTO_TCP, IPPROTO_UDP, PMAP_PROG, PMAP_VERS } from './constants';
import { createPortmapProgram } from './program';
import { PortmapRegistry, type PortmapMapping } from './registry';
import { probeRpcbind, registerWithRpcbind, unregisterFromRpcbind } from './rpcbind';

export interface PublishOptions {
  /** The portmapper port (111 in production); 0 publishes nothing. */
  port: number;
  /** Where our own portmapper listens when no system rpcbind answers. */
  bindAddress: string;
  mappings: readonly PortmapMapping[];
  logger: RpcLogger;
  /** The logger of our own portmapper's RPC server (default: `logger`). */
  serverLogger?: RpcLogger;
  /** How long to wait for a system rpcbind to answer the probe (default 500 ms). */
  probeTimeoutMs?: number;
}

export interface PortmapPublication {
  /** 'rpcbind': registered with the system's; 'served': our own; 'none': clients need ports. */
  readonly how: 'rpcbind' | 'served' | 'none';
  close(): Promise<void>;
}

/** The mappings of MOUNT (v1 and v3) and NFS v3 on one port, for each protocol given. */
export function mountAndNfsMappings(port: number, protocols: readonly number[]): PortmapMapping[] {
  const mappings: PortmapMapping[] = [];
  for (const prot of protocols) {
    mappings.push({ prog: NFS_PROGRAM, vers: 3, prot, port });
    for (const vers of [1, 3]) mappings.push({ prog: MOUNT_PROGRAM, vers, prot, port });
  }
  return mappings;
}

export async function publishPortmap(opts: PublishOptions): Promise<PortmapPublication> {
  const { port, logger } = opts;
  if (port === 0) {
    logger.info({}, 'portmapper off (FERRY_PORTMAP_PORT=0): clients mount with port= and mountport=');
    return { how: 'none', close: async () => undefined };
  }
  if (await probeRpcbind({ host: '127.0.0.1', port, timeoutMs: opts.probeTimeoutMs ?? 500 })) {
    try {
      await registerWithRpcbind(opts.mappings, { host: '127.0.0.1', port, timeoutMs: 2000 });
    } catch (err) {
      logger.warn({ err, port }, 'a portmapper answers but refused our registration: clients need port= and mountport=');
      return { how: 'none', close: async () => undefined };
    }
    logger.info({ port }, 'registered MOUNT and NFS with the system rpcbind');
    let registered = true;
    return {
      how: 'rpcbind',
      close: async () => {
        if (!registered) return;
        registered = false;
        await unregisterFromRpcbind(opts.mappings, { host: '127.0.0.1', port, timeoutMs: 1000 }).catch((err: unknown) =>
          logger.warn({ err }, 'could not unregister from rpcbind'),
        );
      },
    };
  }
  const registry = new PortmapRegistry();
  for (const m of opts.mappings) registry.set(m);
  registry.set({ prog: PMAP_PROG, vers: PMAP_VERS, prot: IPPROTO_TCP, port });
  registry.set({ prog: PMAP_PROG, vers: PMAP_VERS, prot: IPPROTO_UDP, port });
  const server = new RpcServer({ programs: [createPortmapProgram(registry)], logger: opts.serverLogger ?? logger });
  try {
    await server.listenTcp(port, opts.bindAddress);
    await server.listenUdp(port, opts.bindAddress);
  } catch (err) {
    await server.close();
    const code = (err as NodeJS.ErrnoException).code;
    logger.warn({ port, code }, 'no portmapper: the port is taken or needs root; NFS is still served, clients need port= and mountport=');
    return { how: 'none', close: async () => undefined };
  }
  logger.info({ port }, 'serving the portmapper');
  return { how: 'served', close: () => server.close() };
}
