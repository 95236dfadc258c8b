export { IPPROTO_TCP, IPPROTO_UDP, PMAP_PORT, PMAP_PROCEDURE_NAMES, PMAP_PROG, PMAP_VERS, PmapProc } from './constants';
export { PortmapRegistry, type PortmapMapping } from './registry';
export { createPortmapProgram, isLoopback, readMapping, readPmapList, writeMapping, writePmapList } from './program';
export {
  dumpRpcbind,
  getPortFromRpcbind,
  PortmapRefusedError,
  probeRpcbind,
  registerWithRpcbind,
  unregisterFromRpcbind,
  type RpcbindOptions,
} from './rpcbind';
export { mountAndNfsMappings, publishPortmap, type PortmapPublication, type PublishOptions } from './publish';
