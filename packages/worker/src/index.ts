// @convoy/worker: connects to a coordinator and computes gradient sums for the images it is given.
export { Worker } from './worker.js';
export { WORKER_DEFAULTS } from './options.js';
export type { WorkerOptions } from './options.js';
export { WorkerState, zeroMask } from './connection.js';
export type { WorkerExit, WorkerStateName } from './connection.js';
export { ComputeEngine } from './compute.js';
export type { WorkerData } from './compute.js';
export { WorkerError } from './errors.js';
export type { WorkerErrorCode } from './errors.js';
