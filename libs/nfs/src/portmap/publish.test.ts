// Goal: publishPortmap makes MOUNT and NFS findable the three ways a start can find the port:
// no portmapper there (we serve our own, TCP and UDP), a portmapper answering (we register with
// it, and close() takes the mappings back out), and a port neither ours nor a portmapper's (we
// carry on without, and say so); port 0 publishes nothing. Method: real servers on free high
// loopback ports, queried with the rpcbind helpers over the wire; a recording logger.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../../test/support/ports';
import { IPPROTO_TCP, IPPROTO_UDP } from './constants';
import { mountAndNfsMappings, publishPortmap, type PortmapPublication } from './publish';
import { dumpRpcbind, getPortFromRpcbind } from './rpcbind';

const open: PortmapPublication[] = [];
const others: Server[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
  await Promise.all(others.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function recorder(): { lines: string[]; info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void } {
  const lines: string[] = [];
  const add = (level: string) => (_o: object, m?: string) => void lines.push(`${level}: ${m ?? ''}`);
  return { lines, info: add('info'), warn: add('warn'), error: add('error') };
}

async function publish(port: number, nfsPort: number, protocols = [IPPROTO_TCP, IPPROTO_UDP]) {
  const logger = recorder();
  const p = await publishPortmap({ port, bindAddress: '127.0.0.1', mappings: mountAndNfsMappings(nfsPort, protocols), logger, probeTimeoutMs: 300 });
  open.push(p);
  return { p, logger };
}

describe('publishPortmap', () => {
  it('maps NFS v3 and MOUNT v1 and v3 for each protocol on the one port', () => {
    expect(mountAndNfsMappings(2049, [IPPROTO_TCP])).toEqual([
      { prog: 100003, vers: 3, prot: IPPROTO_TCP, port: 2049 },
      { prog: 100005, vers: 1, prot: IPPROTO_TCP, port: 2049 },
      { prog: 100005, vers: 3, prot: IPPROTO_TCP, port: 2049 },
    ]);
    expect(mountAndNfsMappings(2049, [IPPROTO_TCP, IPPROTO_UDP])).toHaveLength(6);
  });

  it('port 0 publishes nothing', async () => {
    const { p, logger } = await publish(0, 2049);
    expect(p.how).toBe('none');
    expect(logger.lines).toEqual(['info: portmapper off (FERRY_PORTMAP_PORT=0): clients mount with port= and mountport=']);
  });

  it('serves its own portmapper on a free port (TCP and UDP), and close() frees the port', async () => {
    const port = await freePort();
    const { p } = await publish(port, 34567);
    expect(p.how).toBe('served');
    const at = { host: '127.0.0.1', port, timeoutMs: 2000 };
    expect(await getPortFromRpcbind(100003, 3, IPPROTO_TCP, at)).toBe(34567);
    expect(await getPortFromRpcbind(100005, 3, IPPROTO_UDP, at)).toBe(34567);
    expect(await getPortFromRpcbind(100000, 2, IPPROTO_UDP, at)).toBe(port);
    await p.close();
    await p.close(); // twice is fine
    const again = createServer();
    others.push(again);
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  });

  it('registers with a portmapper that answers, and close() takes its mappings out again', async () => {
    const port = await freePort();
    const system = await publish(port, 11111, [IPPROTO_TCP]);
    expect(system.p.how).toBe('served');
    const { p, logger } = await publish(port, 22222, [IPPROTO_UDP]);
    expect(p.how).toBe('rpcbind');
    expect(logger.lines).toEqual(['info: registered MOUNT and NFS with the system rpcbind']);
    const at = { host: '127.0.0.1', port, timeoutMs: 2000 };
    expect(await getPortFromRpcbind(100003, 3, IPPROTO_UDP, at)).toBe(22222);
    await p.close();
    const left = await dumpRpcbind(at);
    // UNSET takes out a program version whatever its protocol and port (RFC 1833 §3.2).
    expect(left.filter((m) => m.prog === 100003 || m.prog === 100005)).toEqual([]);
    expect(left.filter((m) => m.prog === 100000)).toHaveLength(2);
  });

  it('carries on without a portmapper when the port is held by something else', async () => {
    const port = await freePort();
    const squatter = createServer((s) => s.destroy()); // accepts, never answers RPC
    others.push(squatter);
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', () => resolve()));
    const { p, logger } = await publish(port, 2049);
    expect(p.how).toBe('none');
    expect(logger.lines.some((l) => l.startsWith('warn: no portmapper: the port is taken'))).toBe(true);
  });
});
