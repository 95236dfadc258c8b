export { BullJobQueue, type BullJobQueueOptions } from './bull-job-queue';
export { InProcessJobQueue, type InProcessJobQueueOptions } from './in-process-job-queue';
export {
  consoleJobLogger,
  JobAbandonedError,
  JobCancelledError,
  JobError,
  JobErrorCode,
  type EnqueueOptions,
  type JobContext,
  type JobLogger,
  type JobProcessor,
  type JobQueue,
} from './job-queue';
export { runJob, type RunOutcome } from './job-runner';
export { isTerminal, LIVE_JOB_STATES, TERMINAL_JOB_STATES, type JobPatch, type JobRecord, type JobStore, type NewJob } from './job-store';
export { MemoryJobStore } from './memory-job-store';
export { TypeOrmJobStore } from './typeorm-job-store';
