// @convoy/worker: connects to a coordinator and computes gradient sums for the images it is given.
export { Worker, WORKER_DEFAULTS, WorkerState, zeroMask } from './worker.js';
export type { WorkerOptions, WorkerExit, WorkerStateName } from './worker.js';
export { ComputeEngine } from './compute.js';
export type { WorkerData } from './compute.js';
export { WorkerError } from './errors.js';
export type { WorkerErrorCode } from './errors.js';
