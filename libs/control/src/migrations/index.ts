import { InitialSchema1767225600000 } from './1767225600000-initial-schema';
import { FsLeases1767312000000 } from './1767312000000-fs-leases';
import { FsUsage1767398400000 } from './1767398400000-fs-usage';

/** Every migration, oldest first. A new one is appended here; applied ones are never edited. */
export const CONTROL_MIGRATIONS = [InitialSchema1767225600000, FsLeases1767312000000, FsUsage1767398400000];
