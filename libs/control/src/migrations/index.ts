import { InitialSchema1767225600000 } from './1767225600000-initial-schema';
import { FsLeases1767312000000 } from './1767312000000-fs-leases';

/** Every migration, oldest first. A new one is appended here; applied ones are never edited. */
export const CONTROL_MIGRATIONS = [InitialSchema1767225600000, FsLeases1767312000000];
