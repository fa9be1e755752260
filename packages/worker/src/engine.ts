/**
 * The worker's compute engine for its --threads: on its own thread for 1 (ComputeEngine,
 * no thread hop, the path single-core hosts always took), on its compute threads otherwise.
 */
import type { Kernels, ModelSpec } from '@convoy/core';
import { ComputeEngine, type Engine, type WorkerData } from './compute.js';
import type { ComputeThreads } from './threads/pool.js';
import { ThreadedEngine } from './threads/threaded-engine.js';

/** null: compute on this thread with `takeKernels()`'s backend. */
export type EngineThreads = { readonly threads: ComputeThreads } | { readonly threads: null; readonly takeKernels: () => Kernels };

export function createEngine(spec: ModelSpec, paramCount: number, data: WorkerData, choice: EngineThreads): Engine {
  if (choice.threads === null) return new ComputeEngine(spec, paramCount, data, choice.takeKernels());
  return new ThreadedEngine(spec, paramCount, data, choice.threads);
}
