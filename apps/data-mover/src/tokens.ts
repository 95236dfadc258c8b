export const CONFIG = Symbol('CONFIG');
export const LOGGER = Symbol('LOGGER');
/** The mover's StorageHost (libs/control): job processors and event handlers inject it. */
export const STORAGE_HOST = 'STORAGE_HOST';
