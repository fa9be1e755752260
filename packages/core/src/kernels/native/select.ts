/**
 * Kernel selection in Node: the browser-safe selectKernels (../select.ts) plus the native
 * backend. 'auto' picks native > wasm > ts; when native is unavailable it says so once per
 * process, with the reason, and goes on with the next best.
 */
import type { Kernels } from '../kernels.js';
import { defaultKernels, selectKernels, type KernelsChoice } from '../select.js';
import { createNativeKernels } from './backend.js';
import { nativeKernelsStatus } from './addon.js';

let fallbackSaid = false;

/** The fastest backend available here (native when its addon loads). */
export function defaultNodeKernels(): Kernels {
  const status = nativeKernelsStatus();
  if (status.available) return createNativeKernels();
  const kernels = defaultKernels();
  if (!fallbackSaid) {
    fallbackSaid = true;
    console.error(`convoy: native kernels unavailable (${status.reason}); running on ${kernels.description}`);
  }
  return kernels;
}

/** A backend by name; 'native' throws NativeKernelsError (code NATIVE_UNAVAILABLE, with the reason) when the addon cannot load. */
export function selectNodeKernels(name: KernelsChoice): Kernels {
  switch (name) {
    case 'native':
      return createNativeKernels();
    case 'auto':
      return defaultNodeKernels();
    case 'ts':
    case 'wasm':
      return selectKernels(name);
    default:
      return selectKernels(name satisfies never);
  }
}
