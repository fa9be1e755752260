/**
 * Chooses a kernel backend. For now only the TypeScript reference exists; the
 * WebAssembly backend replaces the 'wasm' branch (and 'auto' prefers it) once it is built.
 */
import type { Kernels } from './kernels.js';
import { createReferenceKernels } from './reference.js';

export type KernelsChoice = 'ts' | 'wasm' | 'auto';

/** The fastest backend available here (today: a fresh float32 reference instance). */
export function defaultKernels(): Kernels {
  return createReferenceKernels();
}

/** A backend by name: 'ts' the reference, 'wasm' the WebAssembly build, 'auto' the fastest available. */
export function selectKernels(name: KernelsChoice): Kernels {
  switch (name) {
    case 'ts':
      return createReferenceKernels();
    case 'auto':
      return defaultKernels();
    case 'wasm':
      throw new Error("kernels 'wasm': the WebAssembly backend is not built yet; use 'ts' or 'auto'");
    default:
      throw new Error(`unknown kernels '${String(name)}': expected 'ts', 'wasm' or 'auto'`);
  }
}
