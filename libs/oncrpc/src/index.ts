export * from './program';
export * from './constants';
export {
  CRED_NONE,
  CredentialCache,
  decodeAuthSysBody,
  decodeCall,
  decodeReplyHeader,
  encodeAcceptedReply,
  encodeAuthError,
  encodeCallHeader,
  encodeCredential,
  encodeProgMismatch,
  encodeRpcMismatch,
  type CallHeader,
  type DecodedCall,
  type OpaqueAuth,
  type ReplyHeader,
  type VersionRange,
} from './message';
export {
  decodeProxyV2,
  encodeProxyV2,
  NetworkList,
  parseNetwork,
  ProxyCommand,
  ProxyPreamble,
  unmapIPv4,
  DEFAULT_MAX_PROXY_HEADER_BYTES,
  PROXY_V2_SIGNATURE,
  type ProxyDecodeResult,
  type ProxyEndpoints,
  type ProxyHeader,
  type ProxyPreambleResult,
} from './proxy-v2';
export { RecordReader, RecordTooLargeError } from './record-reader';
export { ChunkQueue } from './chunk-queue';
export { beginRecord, endRecord, endRecordPieces, frameRecord } from './record-writer';
export { type ReplyPieces, RpcReplyWriter, SPLICE_MIN_BYTES, writeOpaqueSpliced } from './reply-writer';
export { RpcDispatcher, NOOP_LOGGER, HRTIME_CLOCK, type Clock, type DispatchResult, type RpcLogger } from './dispatcher';
export { RpcServer, clientAddressOf, type ConnectionStats, type RpcServerOptions } from './server';
export {
  RpcAcceptedError,
  RpcClient,
  RpcConnectionError,
  RpcDeniedError,
  RpcTimeoutError,
  type RpcClientOptions,
  type RpcResult,
  type UdpCallOptions,
} from './client';
