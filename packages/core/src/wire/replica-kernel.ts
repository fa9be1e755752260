/**
 * Where a replica's arrays live and what applies the update to them: the WebAssembly SIMD
 * build of the update (assembly/replica.ts) when this engine runs it, else the TypeScript
 * one (applyReplicaUpdate). Both give the same bits (replica-kernel.test.ts), so replicas on
 * different engines, with or without WebAssembly, stay identical.
 *
 * The arrays are views on the instance's own memory (no copy on the worker's path): the
 * update is on every step's critical path, on the coordinator and on every worker, and the
 * fround-per-operation TypeScript loop costs several times the SIMD one on 1.2M parameters.
 *
 * NOTE: always the plain `simd` build, never `relaxed`: the relaxed build fuses multiply-adds
 * in `madd`, and the replica update must round every operation on its own. (The replica
 * functions do not use madd, but the rule keeps a later edit from breaking exactness.)
 */
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { webAssembly, type WasmMemory } from '../kernels/wasm/api.js';
import { loadWasmModule } from '../kernels/wasm/loader.js';
import { applyReplicaUpdate, replicaStateNames, type UpdateScalars } from './replica.js';
import { extrapolate } from './lookahead.js';

const PAGE = 65_536;
const ALIGN = 64;
/** Room for the module's static data below the arrays (heapBase() is checked against it). */
const STATIC_DATA_BYTES = 1 << 20;

/** `ahead` is a byte offset, 0 for none (assembly/replica.ts). */
interface ReplicaExports {
  replicaSgd(length: number, params: number, gradient: number, velocity: number, learningRate: number, momentum: number, nesterov: number, ahead: number): void;
  replicaAdadelta(
    length: number, params: number, gradient: number, accumulatedGrad: number, accumulatedDelta: number, learningRate: number, rho: number, oneMinusRho: number, epsilon: number,
    ahead: number,
  ): void;
  replicaAdam(
    length: number, params: number, gradient: number, m: number, v: number, learningRate: number, beta1: number, beta2: number,
    oneMinusBeta1: number, oneMinusBeta2: number, epsilon: number, correction1: number, correction2: number, ahead: number,
  ): void;
  replicaExtrapolate(length: number, params: number, ahead: number): void;
}

/** A replica's parameters, optimizer state (replicaStateNames order) and the update's gradient. */
export interface ReplicaArrays {
  /** 'wasm' or 'js': which code applies the update (both give the same bits). */
  readonly kind: 'wasm' | 'js';
  readonly params: Float32Array;
  readonly state: readonly Float32Array[];
  /** The mean gradient the next apply() reads (paramCount floats). */
  readonly gradient: Float32Array;
  /**
   * --overlap's lookahead parameters (lookahead.ts), when asked for: every apply() also
   * writes the extrapolation from the parameters before and after the update into it.
   */
  readonly ahead: Float32Array | null;
  /** One update in place, as applyReplicaUpdate(config, scalars, params, gradient, state, ahead). */
  apply(scalars: UpdateScalars): void;
  /** `ahead` from `params` and the parameters of the version before, which the caller wrote into `ahead`. */
  extrapolate(): void;
}

export interface ReplicaOptions {
  /** 'js' for the TypeScript code even where the WebAssembly runs (tests compare the two). Default 'wasm'. */
  readonly prefer?: 'wasm' | 'js';
  /** Keep `ahead` (--overlap runs). Default false. */
  readonly ahead?: boolean;
}

/** Arrays for `paramCount` parameters under `config`: in WebAssembly memory when it can run here, else plain. */
export function createReplicaArrays(config: ResolvedOptimizerConfig, paramCount: number, options: ReplicaOptions = {}): ReplicaArrays {
  const ahead = options.ahead === true;
  return ((options.prefer ?? 'wasm') === 'wasm' ? wasmReplica(config, paramCount, ahead) : null) ?? jsReplica(config, paramCount, ahead);
}

function jsReplica(config: ResolvedOptimizerConfig, paramCount: number, withAhead: boolean): ReplicaArrays {
  const params = new Float32Array(paramCount);
  const gradient = new Float32Array(paramCount);
  const state = replicaStateNames(config).map(() => new Float32Array(paramCount));
  const ahead = withAhead ? new Float32Array(paramCount) : null;
  return {
    kind: 'js',
    params,
    gradient,
    state,
    ahead,
    apply: (scalars) => applyReplicaUpdate(config, scalars, params, gradient, state, ahead),
    extrapolate: () => {
      if (ahead !== null) extrapolate(ahead, params, ahead);
    },
  };
}

function wasmReplica(config: ResolvedOptimizerConfig, paramCount: number, withAhead: boolean): ReplicaArrays | null {
  const stateCount = replicaStateNames(config).length;
  const instance = wasmWithArrays<ReplicaExports>(2 + stateCount + (withAhead ? 1 : 0), paramCount);
  if (instance === null) return null;
  const { wasm, offsets, memory } = instance;
  const views = offsets.map((offset) => new Float32Array(memory.buffer, offset, paramCount));
  const [params, gradient, ...rest] = views as [Float32Array, Float32Array, ...Float32Array[]];
  const state = rest.slice(0, stateCount);
  const ahead = withAhead ? rest[stateCount]! : null;
  const [paramsAt, gradientAt, firstAt, secondAt] = offsets as [number, number, number, number | undefined];
  const aheadAt = withAhead ? offsets[2 + stateCount]! : 0;
  const f = Math.fround;
  const apply = (scalars: UpdateScalars): void => {
    switch (config.name) {
      case 'sgd':
        return wasm.replicaSgd(paramCount, paramsAt, gradientAt, firstAt, scalars.learningRate, config.momentum, config.nesterov ? 1 : 0, aheadAt);
      case 'adadelta':
        return wasm.replicaAdadelta(paramCount, paramsAt, gradientAt, firstAt, secondAt!, scalars.learningRate, config.rho, f(1 - config.rho), config.epsilon, aheadAt);
      case 'adam':
        return wasm.replicaAdam(
          paramCount, paramsAt, gradientAt, firstAt, secondAt!, scalars.learningRate, config.beta1, config.beta2,
          f(1 - config.beta1), f(1 - config.beta2), config.epsilon, scalars.correction1, scalars.correction2, aheadAt,
        );
      default: {
        const unhandled: never = config;
        throw new Error(`unknown optimizer ${String((unhandled as { name: unknown }).name)}`);
      }
    }
  };
  const extrapolateAhead = (): void => {
    if (withAhead) wasm.replicaExtrapolate(paramCount, paramsAt, aheadAt);
  };
  return { kind: 'wasm', params, gradient, state, ahead, apply, extrapolate: extrapolateAhead };
}

/**
 * An instance of the plain-SIMD kernels with a memory of its own holding `arrayCount`
 * arrays of `length` 4-byte entries (their byte offsets, ALIGN-aligned, above the module's
 * static data); null when the build is missing, this engine cannot run it, or the memory
 * cannot be had (the caller then uses plain arrays and TypeScript).
 */
export function wasmWithArrays<Exports>(arrayCount: number, length: number): { readonly wasm: Exports; readonly offsets: readonly number[]; readonly memory: WasmMemory } | null {
  let module;
  try {
    module = loadWasmModule('simd');
  } catch {
    return null; // not built, or not provided to this browser: the TypeScript code gives the same bits
  }
  if (module === null) return null;
  const stride = Math.ceil((4 * length) / ALIGN) * ALIGN;
  const pages = Math.ceil((STATIC_DATA_BYTES + arrayCount * stride + ALIGN) / PAGE);
  let memory: WasmMemory;
  try {
    memory = new webAssembly.Memory({ initial: pages, maximum: pages });
  } catch {
    return null; // no address space for it: the plain arrays will do
  }
  const wasm = new webAssembly.Instance(module, { env: { memory } }).exports as unknown as Exports & { heapBase(): number };
  const base = Math.ceil(wasm.heapBase() / ALIGN) * ALIGN;
  if (base > STATIC_DATA_BYTES) return null;
  return { wasm, offsets: Array.from({ length: arrayCount }, (_, i) => STATIC_DATA_BYTES + i * stride), memory };
}
