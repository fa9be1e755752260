/**
 * What the loader needs from a platform that can read the package's build/ folder. Only
 * Node can (build-files.node.ts); a browser's '#wasm-build' gives null.
 */
export type WasmVariant = 'relaxed' | 'simd';

/** The file name of a variant's build, the same in build/ and wherever a page serves it from. */
export function wasmFileName(variant: WasmVariant): string {
  return `kernels-${variant}.wasm`;
}

export interface WasmBuildSource {
  /** Whether the variant's file exists. */
  exists(variant: WasmVariant): boolean;
  /** The variant's bytes (call only after exists()). */
  read(variant: WasmVariant): Uint8Array;
  /** Where the variant's file is, for error messages. */
  location(variant: WasmVariant): string;
  /** Switches on relaxed SIMD in engines that keep it behind a flag; harmless where it is on. */
  enableRelaxedSimd(): void;
}
