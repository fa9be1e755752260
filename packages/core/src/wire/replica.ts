/**
 * The update every replica applies, bit for bit the same on the coordinator and on every
 * worker (Node or browser, whatever its kernel backend): the optimizers' formulas
 * (optimizers/*.ts) with every operation rounded to float32 (Math.fround), in one fixed order.
 *
 * NOTE: why not the optimizer kernels: the TypeScript reference computes in float64 and the
 * WebAssembly kernels in float32, so two backends differ in the last bits and replicas would
 * drift apart. +, -, *, / and sqrt of float32 operands computed in float64 and rounded once
 * are exactly the IEEE float32 results (float64 has more than 2*24+2 bits), so Math.fround
 * after each of them is exact everywhere. pow and exp are not (engines differ), so whatever
 * needs them (the decayed learning rate, Adam's bias corrections) is computed once by the
 * coordinator and sent as a scalar (UpdateScalars).
 */
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { extrapolate } from './lookahead.js';

const f = Math.fround;

/** The scalars of one update that depend on engine math, computed by the coordinator. */
export interface UpdateScalars {
  /** The learning rate of this update (after decay). */
  readonly learningRate: number;
  /** Adam: 1 - beta1^t and 1 - beta2^t for this update's t; 1 for the others. */
  readonly correction1: number;
  readonly correction2: number;
}

/** The optimizer's state arrays, in the order `state` fields carry them (the optimizers' own names). */
export function replicaStateNames(config: ResolvedOptimizerConfig): readonly string[] {
  switch (config.name) {
    case 'sgd':
      return ['velocity'];
    case 'adadelta':
      return ['accumulatedGrad', 'accumulatedDelta'];
    case 'adam':
      return ['m', 'v'];
    default: {
      const unhandled: never = config;
      throw new Error(`unknown optimizer ${String((unhandled as { name: unknown }).name)}`);
    }
  }
}

/** The scalars of update number `t` (1-based) at `learningRate`: computed on the coordinator only. */
export function updateScalars(config: ResolvedOptimizerConfig, learningRate: number, t: number): UpdateScalars {
  if (config.name === 'adam') return { learningRate, correction1: 1 - config.beta1 ** t, correction2: 1 - config.beta2 ** t };
  return { learningRate, correction1: 1, correction2: 1 };
}

/**
 * One update in place: params and `state` (replicaStateNames order) change, `gradient` (the
 * mean gradient of the step, paramCount floats) is read. `ahead`, when given, receives
 * --overlap's lookahead from the parameters before and after (lookahead.ts's extrapolate),
 * in the same pass.
 */
export function applyReplicaUpdate(
  config: ResolvedOptimizerConfig,
  scalars: UpdateScalars,
  params: Float32Array,
  gradient: Float32Array,
  state: readonly Float32Array[],
  ahead: Float32Array | null = null,
): void {
  // NOTE: a copy and a second pass only here, in the fallback: the WebAssembly kernel writes `ahead` in the update's pass.
  ahead?.set(params);
  applyUpdate(config, scalars, params, gradient, state);
  if (ahead !== null) extrapolate(ahead, params, ahead);
}

function applyUpdate(config: ResolvedOptimizerConfig, scalars: UpdateScalars, params: Float32Array, gradient: Float32Array, state: readonly Float32Array[]): void {
  const length = params.length;
  const learningRate = f(scalars.learningRate);
  switch (config.name) {
    case 'sgd': {
      const velocity = state[0]!;
      const momentum = f(config.momentum);
      for (let i = 0; i < length; i++) {
        const g = gradient[i]!;
        const v = f(f(momentum * velocity[i]!) - f(learningRate * g));
        velocity[i] = v;
        params[i] = f(params[i]! + (config.nesterov ? f(f(momentum * v) - f(learningRate * g)) : v));
      }
      return;
    }
    case 'adadelta': {
      const [accumulatedGrad, accumulatedDelta] = state as [Float32Array, Float32Array];
      const rho = f(config.rho);
      const oneMinusRho = f(1 - config.rho);
      const epsilon = f(config.epsilon);
      for (let i = 0; i < length; i++) {
        const g = gradient[i]!;
        const accG = f(f(rho * accumulatedGrad[i]!) + f(f(oneMinusRho * g) * g));
        accumulatedGrad[i] = accG;
        const delta = f(f(f(Math.sqrt(f(accumulatedDelta[i]! + epsilon))) / f(Math.sqrt(f(accG + epsilon)))) * g);
        accumulatedDelta[i] = f(f(rho * accumulatedDelta[i]!) + f(f(oneMinusRho * delta) * delta));
        params[i] = f(params[i]! - f(learningRate * delta));
      }
      return;
    }
    case 'adam': {
      const [m, v] = state as [Float32Array, Float32Array];
      const beta1 = f(config.beta1);
      const beta2 = f(config.beta2);
      const oneMinusBeta1 = f(1 - config.beta1);
      const oneMinusBeta2 = f(1 - config.beta2);
      const epsilon = f(config.epsilon);
      const correction1 = f(scalars.correction1);
      const correction2 = f(scalars.correction2);
      for (let i = 0; i < length; i++) {
        const g = gradient[i]!;
        const mi = f(f(beta1 * m[i]!) + f(oneMinusBeta1 * g));
        const vi = f(f(beta2 * v[i]!) + f(f(oneMinusBeta2 * g) * g));
        m[i] = mi;
        v[i] = vi;
        const step = f(f(learningRate * f(mi / correction1)) / f(f(Math.sqrt(f(vi / correction2))) + epsilon));
        params[i] = f(params[i]! - step);
      }
      return;
    }
    default: {
      const unhandled: never = config;
      throw new Error(`unknown optimizer ${String((unhandled as { name: unknown }).name)}`);
    }
  }
}

/**
 * A 32-bit FNV-1a hash of the float32 bits of `values` (one round per 32-bit word): the drift
 * check compares the coordinator's and a worker's parameters with it. Not cryptographic:
 * it catches accidents (a missed update, an engine that rounds differently), not liars.
 */
export function replicaHash(values: Float32Array): number {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let hash = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) hash = Math.imul(hash ^ words[i]!, 0x01000193);
  return hash >>> 0;
}
