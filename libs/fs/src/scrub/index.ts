export { scrubFileSystem, type ScrubDamage, type ScrubOptions, type ScrubProgress, type ScrubResult } from './scrub';
