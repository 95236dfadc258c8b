import { ApiTokenEntity } from './api-token.entity';
import { AuditLogEntity } from './audit-log.entity';
import { DeviceEntity } from './device.entity';
import { ExportEntity } from './export.entity';
import { FilesystemEntity } from './filesystem.entity';
import { JobEntity } from './job.entity';
import { MoverEntity } from './mover.entity';
import { PoolEntity } from './pool.entity';

export { ApiTokenEntity, TOKEN_ROLES, type TokenRole } from './api-token.entity';
export { AuditLogEntity } from './audit-log.entity';
export { DeviceEntity } from './device.entity';
export { ExportEntity, EXPORT_ACCESS, type ExportAccess } from './export.entity';
export { FilesystemEntity, FILESYSTEM_STATES, nextFsid, type FilesystemState } from './filesystem.entity';
export { JobEntity, JOB_STATES, FINISHED_JOB_STATES, type JobState } from './job.entity';
export { MoverEntity, MOVER_STATES, type MoverState } from './mover.entity';
export { PoolEntity } from './pool.entity';

/** Every entity of the control plane's schema (the DataSource registers exactly these). */
export const CONTROL_ENTITIES = [
  PoolEntity,
  DeviceEntity,
  MoverEntity,
  FilesystemEntity,
  ExportEntity,
  JobEntity,
  ApiTokenEntity,
  AuditLogEntity,
];
