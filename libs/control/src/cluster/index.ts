export { LeaseStore, pgPool, type Assignment, type HeldLease, type LeaseStoreOptions, type MoverRegistration, type Queryable, type TickResult } from './lease-store';
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
