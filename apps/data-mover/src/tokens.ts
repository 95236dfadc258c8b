export const CONFIG = Symbol('CONFIG');
export const LOGGER = Symbol('LOGGER');
/** The mover's StorageHost (libs/control): job processors and event handlers inject it. */
export const STORAGE_HOST = 'STORAGE_HOST';
/** Where the export table comes from: `file` (exports.json, the bare mover) or `control` (the
 * control plane applies it through the StorageHost once the mover has started; until then no
 * export is served, so a rule removed in the database is never served from a stale file). */
export const EXPORTS_SOURCE = Symbol('EXPORTS_SOURCE');
export type ExportsSource = 'file' | 'control';
/** Extra readiness of the process hosting the mover (the embedded start: its database); answers
 * undefined when ready, else why not. */
export const READINESS_CHECK = Symbol('READINESS_CHECK');
export type ReadinessCheck = () => Promise<string | undefined>;
/** What /healthz and /readyz ask of the mover (the bare, embedded or cluster mover service). */
export const MOVER_STATUS = Symbol('MOVER_STATUS');
export interface MoverStatus {
  isReady(): boolean;
  failure(): string | undefined;
  filesystemCount(): number;
  connectionCount(): number;
}
