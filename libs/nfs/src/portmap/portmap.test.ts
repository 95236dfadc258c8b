// Goal: the portmapper answers NULL, SET, UNSET, GETPORT and DUMP as RFC 1833 §3 says, over TCP
// and UDP, refuses table changes from remote hosts, never forwards CALLIT, and the rpcbind
// helpers register and probe correctly. Method: the program is served by a real RpcServer on
// loopback ephemeral ports and driven by RpcClient and the helpers; remote callers and the
// wire layout are checked by calling handlers directly and pinning bytes.
import { afterEach, describe, expect, it } from 'vitest';
import { XdrReader, XdrWriter } from '@ferry/xdr';
import { AuthFlavor, NoReplyError, RpcClient, RpcServer, type RpcCall } from '@ferry/oncrpc';
import { IPPROTO_TCP, IPPROTO_UDP, PMAP_PROG, PMAP_VERS, PmapProc } from './constants';
import { createPortmapProgram, readPmapList, writeMapping, writePmapList } from './program';
import { PortmapRegistry, type PortmapMapping } from './registry';
import { dumpRpcbind, getPortFromRpcbind, PortmapRefusedError, probeRpcbind, registerWithRpcbind, unregisterFromRpcbind } from './rpcbind';

const NFS: PortmapMapping = { prog: 100003, vers: 3, prot: IPPROTO_TCP, port: 2049 };
const MOUNT_UDP: PortmapMapping = { prog: 100005, vers: 3, prot: IPPROTO_UDP, port: 20048 };

const servers: RpcServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(registry: PortmapRegistry): Promise<{ tcp: number; udp: number }> {
  const server = new RpcServer({ programs: [createPortmapProgram(registry)] });
  servers.push(server);
  const tcp = (await server.listenTcp(0, '127.0.0.1')).port;
  const udp = (await server.listenUdp(0, '127.0.0.1')).port;
  return { tcp, udp };
}

function callHandler(registry: PortmapRegistry, proc: PmapProc, args: (w: XdrWriter) => void, address: string): XdrReader {
  const program = createPortmapProgram(registry);
  const a = new XdrWriter(64);
  args(a);
  const call: RpcCall = {
    xid: 1,
    prog: PMAP_PROG,
    vers: PMAP_VERS,
    proc,
    cred: { flavor: AuthFlavor.AUTH_NONE },
    args: new XdrReader(Buffer.from(a.bytes())),
    client: { address, port: 1000, family: address.includes(':') ? 'IPv6' : 'IPv4', transport: 'udp' },
    connectionId: 0,
  };
  const w = new XdrWriter(64);
  void program.versions[0]!.procedures[proc]!(call, w);
  return new XdrReader(Buffer.from(w.bytes()));
}

describe('portmapper program', () => {
  for (const transport of ['tcp', 'udp'] as const) {
    it(`answers SET, GETPORT, DUMP and UNSET over ${transport}`, async () => {
      const registry = new PortmapRegistry();
      registry.set(NFS);
      const ports = await serve(registry);
      const opts = { port: ports[transport], transport, timeoutMs: 60_000 };
      expect(await probeRpcbind(opts)).toBe(true);
      expect(await getPortFromRpcbind(100003, 3, IPPROTO_TCP, opts)).toBe(2049);
      expect(await getPortFromRpcbind(100003, 3, IPPROTO_UDP, opts)).toBe(0);
      await registerWithRpcbind([MOUNT_UDP], opts);
      expect(await getPortFromRpcbind(100005, 3, IPPROTO_UDP, opts)).toBe(20048);
      expect(await dumpRpcbind(opts)).toEqual([NFS, MOUNT_UDP]);
      // Registering again succeeds: the stale mapping is UNSET first.
      await registerWithRpcbind([{ ...MOUNT_UDP, port: 20049 }], opts);
      expect(registry.getPort(100005, 3, IPPROTO_UDP)).toBe(20049);
      await unregisterFromRpcbind([MOUNT_UDP], opts);
      expect(await dumpRpcbind(opts)).toEqual([NFS]);
    });
  }

  it('answers FALSE to a SET of a tuple already mapped', async () => {
    const registry = new PortmapRegistry();
    const { tcp } = await serve(registry);
    const client = await RpcClient.connectTcp('127.0.0.1', tcp);
    const set = async (m: PortmapMapping) => (await client.call(PMAP_PROG, PMAP_VERS, PmapProc.PMAPPROC_SET, (w) => writeMapping(w, m))).reader.bool();
    expect(await set(NFS)).toBe(true);
    expect(await set({ ...NFS, port: 1 })).toBe(false);
    expect(await set({ ...NFS, prot: IPPROTO_UDP })).toBe(true);
    expect(registry.size).toBe(2);
    await client.close();
  });

  it('refuses SET and UNSET from non-loopback callers but answers their GETPORT', () => {
    const registry = new PortmapRegistry();
    registry.set(NFS);
    expect(callHandler(registry, PmapProc.PMAPPROC_SET, (w) => writeMapping(w, MOUNT_UDP), '10.1.2.3').bool()).toBe(false);
    expect(callHandler(registry, PmapProc.PMAPPROC_UNSET, (w) => writeMapping(w, NFS), '2001:db8::1').bool()).toBe(false);
    expect(registry.dump()).toEqual([NFS]);
    expect(callHandler(registry, PmapProc.PMAPPROC_GETPORT, (w) => writeMapping(w, NFS), '10.1.2.3').uint()).toBe(2049);
    expect(callHandler(registry, PmapProc.PMAPPROC_SET, (w) => writeMapping(w, MOUNT_UDP), '::1').bool()).toBe(true);
  });

  it('never forwards CALLIT: the handler asks for no reply', () => {
    const program = createPortmapProgram(new PortmapRegistry());
    const callit = program.versions[0]!.procedures[PmapProc.PMAPPROC_CALLIT]!;
    expect(() => callit({} as RpcCall, new XdrWriter())).toThrow(NoReplyError);
  });

  it('encodes pmaplist as RFC 1833 §3.1 lays it out', () => {
    const w = new XdrWriter(8);
    writePmapList(w, [NFS]);
    expect(w.bytes().toString('hex')).toBe('00000001' + '000186a3' + '00000003' + '00000006' + '00000801' + '00000000');
    expect(readPmapList(new XdrReader(w.bytes()))).toEqual([NFS]);
    const empty = new XdrWriter(8);
    writePmapList(empty, []);
    expect(empty.bytes().toString('hex')).toBe('00000000');
  });

  it('bounds the table and rejects ports over 16 bits', () => {
    const registry = new PortmapRegistry(2);
    expect(registry.set({ ...NFS, port: 70_000 })).toBe(false);
    expect(registry.set(NFS)).toBe(true);
    expect(registry.set(MOUNT_UDP)).toBe(true);
    expect(registry.set({ ...NFS, vers: 4 })).toBe(false);
    expect(registry.unset(100003, 3)).toBe(true);
    expect(registry.unset(100003, 3)).toBe(false);
  });

  it('registerWithRpcbind throws when the portmapper refuses', async () => {
    const registry = new PortmapRegistry(0);
    const { tcp } = await serve(registry);
    await expect(registerWithRpcbind([NFS], { port: tcp, transport: 'tcp' })).rejects.toBeInstanceOf(PortmapRefusedError);
  });

  it('probeRpcbind is false when nothing listens', async () => {
    const { tcp } = await serve(new PortmapRegistry());
    await servers.pop()!.close();
    expect(await probeRpcbind({ port: tcp, transport: 'tcp' })).toBe(false);
  });
});
