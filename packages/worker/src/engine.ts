/**
 * The worker's compute engine for its --threads: on its own thread for 1 (ComputeEngine,
 * no thread hop, the path single-core hosts always took), on N threads otherwise.
 */
import type { Kernels, KernelsChoice, ModelSpec } from '@convoy/core';
import { ComputeEngine, type Engine, type WorkerData } from './compute.js';
import { ThreadedEngine } from './threads/threaded-engine.js';

export interface EngineChoice {
  readonly threads: number;
  readonly kernels: KernelsChoice;
  /** The backend for a one-thread engine (the threads select their own by `kernels`). */
  readonly takeKernels: () => Kernels;
  /** Fault injection (--chaos thread-exit@stepN). */
  readonly threadExitStep?: number;
}

export function createEngine(spec: ModelSpec, paramCount: number, data: WorkerData, choice: EngineChoice): Engine {
  if (choice.threads === 1) return new ComputeEngine(spec, paramCount, data, choice.takeKernels());
  return new ThreadedEngine(spec, paramCount, data, {
    threads: choice.threads,
    kernels: choice.kernels,
    ...(choice.threadExitStep === undefined ? {} : { crashThreadAtStep: choice.threadExitStep }),
  });
}
