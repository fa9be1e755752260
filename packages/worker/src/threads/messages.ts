/**
 * What a worker's main thread and its compute threads say to each other (postMessage;
 * typed arrays are copied, SharedArrayBuffers shared). Parameters and gradients never
 * travel in these messages: they sit in shared memory (threaded-engine.ts).
 */
import type { EvaluateMessage, KernelsChoice, ModelSpec } from '@convoy/core';
import type { SharedWorkerData } from './shared-data.js';

/**
 * A compute thread's workerData. A thread starts before the worker knows its model (it
 * loads its code and its kernels while the worker connects); the model comes in a job.
 */
export interface ThreadSetup {
  /** 0-based place among the worker's threads (thread k computes part k of every slice). */
  readonly index: number;
  readonly kernels: KernelsChoice;
  /** Fault injection (--chaos thread-exit@stepN): the thread exits instead of computing step N. */
  readonly exitAtStep?: number;
}

/**
 * Main -> thread, each a job answered in order. `model` (re)builds the thread's model;
 * `load` numbers the parameters in shared memory: a thread copies them when it differs
 * from what it holds.
 */
export type ToThread =
  | {
      readonly kind: 'model';
      readonly job: number;
      readonly spec: ModelSpec;
      readonly paramCount: number;
      readonly data: SharedWorkerData;
      /** paramCount float32: the parameters, written by the main thread between jobs. */
      readonly params: SharedArrayBuffer;
      /** paramCount float32: this thread's gradient sum of its part of the last step. */
      readonly gradient: SharedArrayBuffer;
    }
  | {
      readonly kind: 'step';
      readonly job: number;
      readonly step: number;
      readonly round: number;
      readonly epoch: number;
      readonly load: number;
      readonly indices: Uint32Array;
      readonly dropoutSeeds: Uint32Array;
    }
  | {
      readonly kind: 'evaluate';
      readonly job: number;
      readonly round: number;
      readonly split: EvaluateMessage['split'];
      readonly load: number;
      readonly indices: Uint32Array;
    };

/** Thread -> main: `started` once loaded, then one answer per job, in the order the jobs came. */
export type FromThread =
  | { readonly kind: 'started'; readonly job: 0 }
  | { readonly kind: 'modelled'; readonly job: number }
  | { readonly kind: 'stepped'; readonly job: number; readonly count: number; readonly lossSum: number; readonly correct: number }
  | { readonly kind: 'evaluated'; readonly job: number; readonly count: number; readonly lossSum: number; readonly correct: number; readonly predictions: Uint8Array }
  | { readonly kind: 'failed'; readonly job: number; readonly code: string; readonly message: string };
