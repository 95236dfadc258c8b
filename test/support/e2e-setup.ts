// Runs in every e2e test file (vitest.config.ts setupFiles): after the file, remove the data
// directories MoverProcess made for it (hundreds of MB each after a busy test). Kept apart from
// mover-process.ts, which the benchmarks also import outside vitest.
import { afterAll } from 'vitest';
import { removeMadeDataDirs } from './mover-process';

afterAll(() => removeMadeDataDirs());
