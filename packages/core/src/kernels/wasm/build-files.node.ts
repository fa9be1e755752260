/**
 * '#wasm-build' in Node: the kernels are read from the package's build/ folder, where
 * `pnpm build` writes them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { wasmFileName, type WasmBuildSource, type WasmVariant } from './build-source.js';

const buildDirectory = fileURLToPath(new URL('../../../build/', import.meta.url));

/** The path of a variant's build in this package. */
export function wasmPath(variant: WasmVariant): string {
  return `${buildDirectory}${wasmFileName(variant)}`;
}

let relaxedFlagSet = false;

export const wasmBuild: WasmBuildSource | null = {
  exists: (variant) => existsSync(wasmPath(variant)),
  read: (variant) => {
    const bytes = readFileSync(wasmPath(variant));
    // NOTE: a plain Uint8Array view, never a Buffer, past this point.
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  },
  location: wasmPath,
  enableRelaxedSimd: () => {
    if (relaxedFlagSet) return;
    relaxedFlagSet = true;
    try {
      // NOTE: Node 20's V8 runs relaxed SIMD only behind this flag, set before validation.
      setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // an engine without the flag simply fails validation afterwards
    }
  },
};
