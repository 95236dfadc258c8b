export { ConfigError, loadMoverConfig, parseSize, type MoverConfig } from './config';
export { createLogger, type Logger } from './logger';
export { MoverMetrics } from './metrics';
