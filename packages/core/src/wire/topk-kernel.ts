/**
 * Where a worker's top-k upload keeps its residual and the selected indices, and what runs
 * its first pass (the residual add and the candidates at or above a floor, topk.ts): the
 * WebAssembly SIMD build (assembly/topk.ts) when this engine runs it, else TypeScript. Both
 * give the same bits and the same candidates (topk.test.ts), so the frames a worker sends
 * do not depend on which ran.
 *
 * NOTE: the pass is on every step's path on every worker, over all 1.2M entries: in
 * WebAssembly it adds four entries at a time and tests four magnitudes with one compare.
 * The gradient is copied into the instance's memory first (it lives in the engine's).
 */
import { wasmWithArrays } from './replica-kernel.js';

interface TopKExports {
  topkAccumulate(length: number, residual: number, gradient: number, floor: number, out: number, outMagnitudes: number): number;
}

/** A worker's top-k state: the residual, and room for the candidates (indices and magnitude bits), paramCount entries each. */
export interface TopKArrays {
  /** 'wasm' or 'js': which code runs accumulate() (both give the same bits). */
  readonly kind: 'wasm' | 'js';
  /** What earlier steps did not send (error feedback). */
  readonly residual: Float32Array;
  /** The candidates accumulate() writes, then the selected indices. */
  readonly indices: Uint32Array;
  /** The candidates' magnitude bits (float32 bits, sign cleared), in the order of `indices`. */
  readonly magnitudes: Uint32Array;
  /**
   * residual += gradient, entry by entry in float32; writes into `indices`, ascending, every
   * i with !(|residual[i]| < floor) (NaN included), and its magnitude bits into
   * `magnitudes`; returns how many. floor = Infinity only adds (and returns 0).
   */
  accumulate(gradient: Float32Array, floor: number): number;
}

/** Arrays for `paramCount` entries: in WebAssembly memory when it can run here, else plain. */
export function createTopKArrays(paramCount: number, prefer: 'wasm' | 'js' = 'wasm'): TopKArrays {
  return (prefer === 'wasm' ? wasmTopK(paramCount) : null) ?? jsTopK(paramCount);
}

function jsTopK(paramCount: number): TopKArrays {
  const residual = new Float32Array(paramCount);
  const indices = new Uint32Array(paramCount);
  const magnitudes = new Uint32Array(paramCount);
  const bits = new Uint32Array(residual.buffer);
  return { kind: 'js', residual, indices, magnitudes, accumulate: (gradient, floor) => accumulate(residual, bits, gradient, floor, indices, magnitudes) };
}

/** The TypeScript pass (see TopKArrays.accumulate); `bits` views `residual`. */
function accumulate(residual: Float32Array, bits: Uint32Array, gradient: Float32Array, floor: number, out: Uint32Array, magnitudes: Uint32Array): number {
  const length = residual.length;
  if (floor === Infinity) {
    for (let i = 0; i < length; i++) residual[i] = residual[i]! + gradient[i]!;
    return 0;
  }
  let count = 0;
  for (let i = 0; i < length; i++) {
    const value = Math.fround(residual[i]! + gradient[i]!);
    residual[i] = value;
    // NOTE: `!(|value| < floor)`, not `|value| >= floor`: a NaN is a candidate, as its bits rank it above every number.
    if (!(Math.abs(value) < floor)) {
      out[count] = i;
      magnitudes[count++] = (bits[i]! & 0x7fffffff) >>> 0;
    }
  }
  return count;
}

function wasmTopK(paramCount: number): TopKArrays | null {
  const instance = wasmWithArrays<TopKExports>(4, paramCount);
  if (instance === null) return null;
  const { wasm, offsets, memory } = instance;
  const [residualAt, gradientAt, indicesAt, magnitudesAt] = offsets as [number, number, number, number];
  const residual = new Float32Array(memory.buffer, residualAt, paramCount);
  const gradientIn = new Float32Array(memory.buffer, gradientAt, paramCount);
  const indices = new Uint32Array(memory.buffer, indicesAt, paramCount);
  const magnitudes = new Uint32Array(memory.buffer, magnitudesAt, paramCount);
  return {
    kind: 'wasm',
    residual,
    indices,
    magnitudes,
    accumulate: (gradient, floor) => {
      gradientIn.set(gradient);
      return wasm.topkAccumulate(paramCount, residualAt, gradientAt, floor, indicesAt, magnitudesAt);
    },
  };
}
