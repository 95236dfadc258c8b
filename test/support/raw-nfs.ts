/**
 * Raw NFSv3 calls for duplicate-request-cache tests: one call with a chosen xid on a connection
 * of its own (a new source port each time, as a client that reconnects), returning the reply
 * body's bytes so a retransmission's reply can be compared byte for byte with the original.
 */
import { AuthFlavor, RpcClient, type Credential } from '@ferry/oncrpc';
import type { XdrWriter } from '@ferry/xdr';

export const NFS_PROGRAM = 100003;
export const PROC_CREATE = 8;
export const PROC_REMOVE = 12;
export const NFS3ERR_NOENT = 2;
export const NFS3ERR_EXIST = 17;

export function rootCredential(machinename: string): Credential {
  return { flavor: AuthFlavor.AUTH_SYS, sys: { stamp: 1, machinename, uid: 0, gid: 0, gids: [] } };
}

/** CREATE3args: GUARDED, with a sattr3 that sets mode 0644 and nothing else. */
export function createGuardedArgs(dir: Buffer, name: string): (w: XdrWriter) => void {
  return (w) => {
    w.opaque(dir).string(name).uint(1);
    w.bool(true).uint(0o644).bool(false).bool(false).bool(false).uint(0).uint(0);
  };
}

/** REMOVE3args (diropargs3). */
export function removeArgs(dir: Buffer, name: string): (w: XdrWriter) => void {
  return (w) => void w.opaque(dir).string(name);
}

/** One NFSv3 call on a new connection to 127.0.0.1:port; the reply body's bytes. */
export async function callOnce(port: number, xid: number, proc: number, args: (w: XdrWriter) => void, opts: { cred?: Credential; timeoutMs?: number } = {}): Promise<Buffer> {
  const rpc = await RpcClient.connectTcp('127.0.0.1', port, { xidStart: xid, timeoutMs: opts.timeoutMs ?? 30_000 });
  try {
    const { reader } = await rpc.call(NFS_PROGRAM, 3, proc, args, opts.cred ?? rootCredential('ferry-test'));
    return Buffer.from(reader.buf.subarray(reader.offset, reader.end));
  } finally {
    await rpc.close();
  }
}
