/**
 * Finds, checks and compiles the WebAssembly kernel builds (packages/core/build/*.wasm,
 * written by `pnpm build`). Compilation is synchronous because createModel is: the
 * module is small (~20 KB), compiled once per process and cached.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { webAssembly, type WasmModule } from './api.js';

export type WasmVariant = 'relaxed' | 'simd';

export class WasmKernelsError extends Error {
  constructor(
    readonly code: 'WASM_NOT_BUILT' | 'WASM_UNSUPPORTED' | 'FOREIGN_ARRAY' | 'ARRAY_TOO_SHORT' | 'OUT_OF_MEMORY' | 'BAD_ARGUMENT',
    message: string,
  ) {
    super(message);
    this.name = 'WasmKernelsError';
  }
}

const buildDirectory = fileURLToPath(new URL('../../../build/', import.meta.url));

export function wasmPath(variant: WasmVariant): string {
  return `${buildDirectory}kernels-${variant === 'relaxed' ? 'relaxed' : 'simd'}.wasm`;
}

const compiled = new Map<WasmVariant, WasmModule | null>();
let relaxedFlagSet = false;

/**
 * The compiled module of `variant`, or null when this engine cannot run it.
 * NOTE: Node 20's V8 accepts relaxed SIMD only behind a flag, which must be set before
 * the module is validated or compiled; setting it is harmless where it is already on.
 */
export function loadWasmModule(variant: WasmVariant): WasmModule | null {
  const cached = compiled.get(variant);
  if (cached !== undefined) return cached;
  const path = wasmPath(variant);
  if (!existsSync(path)) {
    throw new WasmKernelsError('WASM_NOT_BUILT', `WebAssembly kernels are not built (${path} is missing): run \`pnpm build\``);
  }
  const bytes = readFileSync(path);
  if (variant === 'relaxed' && !relaxedFlagSet && !webAssembly.validate(bytes)) {
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // an engine without the flag simply fails validation below
    }
    relaxedFlagSet = true;
  }
  const module = webAssembly.validate(bytes) ? new webAssembly.Module(bytes) : null;
  compiled.set(variant, module);
  return module;
}

/** The best variant this engine runs: relaxed SIMD (fused multiply-add), else plain SIMD, else null. */
export function bestWasmVariant(): WasmVariant | null {
  if (loadWasmModule('relaxed') !== null) return 'relaxed';
  if (loadWasmModule('simd') !== null) return 'simd';
  return null;
}

/** True when the .wasm files exist (whether or not this engine can run them). */
export function wasmKernelsBuilt(): boolean {
  return existsSync(wasmPath('simd')) && existsSync(wasmPath('relaxed'));
}
