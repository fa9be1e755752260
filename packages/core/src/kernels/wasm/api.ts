/**
 * The slice of the WebAssembly JavaScript API that the wasm backend uses, typed locally.
 * NOTE: the project's lib is ES2022 without DOM and @types/node 20 does not declare
 * WebAssembly; a global declaration here would clash in packages that do use the DOM lib.
 */
export interface WasmModule {
  readonly __brand: 'WebAssembly.Module';
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
}

export const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
