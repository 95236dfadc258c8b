export { LeaseStore, pgPool, type Assignment, type HeldLease, type LeaseStoreOptions, type MoverRegistration, type Queryable, type TickResult, type UsageReport, type UsageReports } from './lease-store';
export { reportedUsage, reportedUsages, type ReportedUsage } from './usage';
export { place, type LeaseView, type MoverView, type Placement, type PlacementChange } from './placement';
export {
  CLUSTER_TOPICS,
  CONTROLLER_LOCK_KEY,
  PgPoolCoordinator,
  POOL_LOCK_KEY,
  PlacementController,
  dedicatedConnection,
  type ControllerLogger,
  type DedicatedConnection,
  type PlacementControllerOptions,
} from './controller';
export {
  MAINTENANCE_TOPICS,
  MaintenanceClient,
  MaintenanceServer,
  servingOwner,
  type LeaseOwner,
  type MaintenanceCancel,
  type MaintenanceClientOptions,
  type MaintenanceKind,
  type MaintenanceLogger,
  type MaintenanceRequest,
  type MaintenanceServerOptions,
  type MaintenanceUpdate,
  type MaintenanceWork,
} from './maintenance';
