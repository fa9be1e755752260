export { createWasmKernels, WasmKernels, type WasmKernelsOptions } from './backend.js';
export { WasmKernelsError, bestWasmVariant, wasmKernelsBuilt, type WasmVariant } from './loader.js';
