/**
 * Chooses a kernel backend by feature detection: the WebAssembly build with relaxed SIMD
 * (fused multiply-add) when the engine accepts it, plain WebAssembly SIMD otherwise, and
 * the TypeScript reference as the last fallback (engine without SIMD, or `pnpm build`
 * not run). Every call returns a fresh backend: its arrays belong to that backend alone.
 */
import type { Kernels } from './kernels.js';
import { createReferenceKernels } from './reference.js';
import { WasmKernelsError, bestWasmVariant, createWasmKernels, wasmKernelsBuilt } from './wasm/index.js';

/** The names a user may pick (command-line choices). 'native' is served by selectNodeKernels (@convoy/core/node); here it is a clear error. */
export const KERNELS_CHOICES = ['ts', 'wasm', 'native', 'auto'] as const;
export type KernelsChoice = (typeof KERNELS_CHOICES)[number];

/** The fastest backend available here. */
export function defaultKernels(): Kernels {
  if (wasmKernelsBuilt() && bestWasmVariant() !== null) return createWasmKernels();
  return createReferenceKernels();
}

/**
 * A backend by name: 'ts' the reference, 'wasm' the WebAssembly build (best variant;
 * throws a WasmKernelsError with code WASM_NOT_BUILT when `pnpm build` has not run),
 * 'auto' the fastest available.
 */
export function selectKernels(name: KernelsChoice): Kernels {
  switch (name) {
    case 'ts':
      return createReferenceKernels();
    case 'auto':
      return defaultKernels();
    case 'wasm':
      return createWasmKernels();
    case 'native':
      throw new WasmKernelsError('BAD_ARGUMENT', "the native kernels run only in Node: select them with selectNodeKernels from '@convoy/core/node'");
    default:
      throw new WasmKernelsError('BAD_ARGUMENT', `unknown kernels '${String(name satisfies never)}': expected 'ts', 'wasm', 'native' or 'auto'`);
  }
}
