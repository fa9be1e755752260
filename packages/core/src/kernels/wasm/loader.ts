/**
 * Compiles the WebAssembly kernel builds (packages/core/build/kernels-{relaxed,simd}.wasm,
 * written by `pnpm build`) and keeps one module per variant. Compilation is synchronous
 * because createModel is: the module is small (~20 KB) and compiled once per process.
 *
 * Where the bytes come from depends on the platform, and this file reaches no Node built-in:
 * - in Node, '#wasm-build' resolves (package.json `imports`, condition "node") to
 *   build-files.node.ts, which reads the package's build/ folder on first use;
 * - elsewhere (a browser page or Web Worker) it resolves to build-files.browser.ts, which
 *   has no files: the page supplies the bytes it fetched, with provideWasmModule() or
 *   fetchWasmModules(), before creating wasm kernels.
 */
import { wasmBuild } from '#wasm-build';
import { webAssembly, type WasmModule } from './api.js';
import { wasmFileName, type WasmVariant } from './build-source.js';

export { wasmFileName, type WasmVariant };

/** Best first: relaxed SIMD has fused multiply-add, plain SIMD runs wherever SIMD does. */
export const WASM_VARIANTS: readonly WasmVariant[] = ['relaxed', 'simd'];

export class WasmKernelsError extends Error {
  constructor(
    readonly code: 'WASM_NOT_BUILT' | 'WASM_UNSUPPORTED' | 'FOREIGN_ARRAY' | 'ARRAY_TOO_SHORT' | 'OUT_OF_MEMORY' | 'BAD_ARGUMENT',
    message: string,
  ) {
    super(message);
    this.name = 'WasmKernelsError';
  }
}

/** Compiled modules by variant; null when this engine cannot run that variant. */
const compiled = new Map<WasmVariant, WasmModule | null>();

/**
 * Compiles `bytes` as `variant` for every later createWasmKernels(); returns false (and
 * keeps null) when this engine cannot run it, e.g. relaxed SIMD where only SIMD is on.
 * Bytes given here win over the package's build/ folder.
 */
export function provideWasmModule(variant: WasmVariant, bytes: Uint8Array): boolean {
  const module = compile(variant, bytes);
  compiled.set(variant, module);
  return module !== null;
}

/**
 * For a page: fetches the variants from `baseUrl` (the folder serving build/'s files), best
 * first, and keeps the first one this engine validates. Resolves with that variant, or null
 * when the engine runs neither. Rejects with WASM_NOT_BUILT when a file cannot be fetched.
 */
export async function fetchWasmModules(baseUrl: string | URL): Promise<WasmVariant | null> {
  const fetchBytes = (globalThis as unknown as { fetch?: Fetch }).fetch;
  if (fetchBytes === undefined) throw new WasmKernelsError('WASM_UNSUPPORTED', 'fetchWasmModules: this engine has no fetch()');
  for (const variant of WASM_VARIANTS) {
    const url = new URL(wasmFileName(variant), baseUrl);
    const response = await fetchBytes(url.href).catch((error: unknown) => {
      throw new WasmKernelsError('WASM_NOT_BUILT', `cannot fetch the ${variant} WebAssembly kernels from ${url.href} (${(error as Error).message})`);
    });
    if (!response.ok) throw new WasmKernelsError('WASM_NOT_BUILT', `cannot fetch the ${variant} WebAssembly kernels from ${url.href} (HTTP ${response.status})`);
    if (provideWasmModule(variant, new Uint8Array(await response.arrayBuffer()))) return variant;
  }
  return null;
}

interface Fetch {
  (url: string): Promise<{ readonly ok: boolean; readonly status: number; arrayBuffer(): Promise<ArrayBuffer> }>;
}

function compile(variant: WasmVariant, bytes: Uint8Array): WasmModule | null {
  // NOTE: some engines (Node 20's V8) accept relaxed SIMD only behind a flag that must be
  // set before validation; the Node build source sets it, a browser has nothing to set.
  if (variant === 'relaxed' && !webAssembly.validate(bytes)) wasmBuild?.enableRelaxedSimd();
  return webAssembly.validate(bytes) ? new webAssembly.Module(bytes) : null;
}

/** True when bytes for `variant` were provided here or exist in the package's build/. */
function available(variant: WasmVariant): boolean {
  return compiled.has(variant) || (wasmBuild?.exists(variant) ?? false);
}

/**
 * The compiled module of `variant`, or null when this engine cannot run it. Throws
 * WASM_NOT_BUILT when no bytes are available for it.
 */
export function loadWasmModule(variant: WasmVariant): WasmModule | null {
  const cached = compiled.get(variant);
  if (cached !== undefined) return cached;
  if (wasmBuild === null || !wasmBuild.exists(variant)) {
    throw new WasmKernelsError(
      'WASM_NOT_BUILT',
      wasmBuild === null
        ? `no ${variant} WebAssembly kernels were provided: fetch ${wasmFileName(variant)} and pass its bytes to provideWasmModule() first`
        : `WebAssembly kernels are not built (${wasmBuild.location(variant)} is missing): run \`pnpm build\``,
    );
  }
  const module = compile(variant, wasmBuild.read(variant));
  compiled.set(variant, module);
  return module;
}

/**
 * The best variant this engine runs among those available: relaxed SIMD, else plain SIMD,
 * else null. Throws WASM_NOT_BUILT when no variant's bytes are available at all.
 */
export function bestWasmVariant(): WasmVariant | null {
  const candidates = WASM_VARIANTS.filter(available);
  if (candidates.length === 0) loadWasmModule('simd'); // throws the WASM_NOT_BUILT that says where the bytes should come from
  for (const variant of candidates) if (loadWasmModule(variant) !== null) return variant;
  return null;
}

/**
 * True when kernels can be created without a WASM_NOT_BUILT error: in Node, when both of
 * build/'s files exist (whether or not this engine can run them); elsewhere, when a
 * variant was provided.
 */
export function wasmKernelsBuilt(): boolean {
  if (WASM_VARIANTS.some((variant) => compiled.has(variant))) return true;
  return wasmBuild !== null && WASM_VARIANTS.every((variant) => wasmBuild!.exists(variant));
}
