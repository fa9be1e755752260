/**
 * '#wasm-build' outside Node: a page has no build/ folder to read, so it supplies the
 * kernels' bytes itself (loader.ts provideWasmModule / fetchWasmModules).
 */
import type { WasmBuildSource } from './build-source.js';

export const wasmBuild: WasmBuildSource | null = null;
