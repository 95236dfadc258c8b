export { ConfigError, loadControlConfig, loadMoverConfig, parseSize, type ControlConfig, type MoverConfig } from './config';
export { loadDirectorConfig, type DirectorConfig } from './director-config';
export { createLogger, type Logger } from './logger';
export { MoverMetrics } from './metrics';
export { exitOnStopSignals } from './shutdown';
