/**
 * The optimizer interface: one object per training run that owns the optimizer state
 * (flat Float32Arrays in the parameter layout, so checkpoints can store them) and applies
 * one update per step. The arithmetic itself is a kernel (`sgdUpdate`, `adadeltaUpdate`,
 * `adamUpdate`), so it runs in WebAssembly when that backend is used.
 *
 * One file per optimizer (sgd.ts, adadelta.ts, adam.ts); `createOptimizer` (create.ts)
 * picks one from a JSON-serialisable config.
 */
import { checkKeys as checkAllowedKeys } from '../check-keys.js';
import type { Kernels } from '../kernels/kernels.js';

export type OptimizerName = 'sgd' | 'adadelta' | 'adam';

/** SGD (Robbins & Monro 1951); momentum and Nesterov momentum in Keras's form (Sutskever et al. 2013). */
export interface SgdConfig {
  readonly name: 'sgd';
  /** No default: the seed project's constant rate has to be chosen on purpose. */
  readonly learningRate: number;
  /** Default 0 (plain gradient descent). In [0, 1). */
  readonly momentum?: number;
  /** Default false. Needs momentum > 0. */
  readonly nesterov?: boolean;
}

/** Adadelta (Zeiler 2012) with Keras's learning_rate factor. */
export interface AdadeltaConfig {
  readonly name: 'adadelta';
  /** Default 1.0 (Zeiler's original method; Keras's factor on the update). */
  readonly learningRate?: number;
  /** Default 0.95. Decay of both running averages, in [0, 1). */
  readonly rho?: number;
  /** Default 1e-7 (Keras; Zeiler used 1e-6). */
  readonly epsilon?: number;
}

/** Adam (Kingma & Ba 2015, Algorithm 1). */
export interface AdamConfig {
  readonly name: 'adam';
  /** alpha in the paper. Default 0.001. */
  readonly learningRate?: number;
  /** Default 0.9. In [0, 1). */
  readonly beta1?: number;
  /** Default 0.999. In [0, 1). */
  readonly beta2?: number;
  /** Default 1e-7 (Keras; the paper uses 1e-8). */
  readonly epsilon?: number;
}

export type OptimizerConfig = SgdConfig | AdadeltaConfig | AdamConfig;

/** A config with every default filled in: what a checkpoint stores. */
export type ResolvedOptimizerConfig =
  | Required<SgdConfig>
  | Required<AdadeltaConfig>
  | Required<AdamConfig>;

/** Arrays an optimizer's state lives in, by state name (paramCount floats each). */
export type StateStorage = Readonly<Record<string, Float32Array>>;

export interface Optimizer {
  readonly name: OptimizerName;
  /** The full config, defaults filled in, with the current learning rate. */
  readonly config: ResolvedOptimizerConfig;
  /** Updates applied so far (Adam's t after the next update is iterations + 1). */
  readonly iterations: number;
  /** Named flat state arrays (same layout as params), for checkpoints. NOTE: live views. */
  readonly state: Readonly<Record<string, Float32Array>>;
  readonly learningRate: number;
  /**
   * One update in place: params -= f(gradient, state). Both arrays hold paramCount floats
   * and must come from the kernels' `allocate` (the WebAssembly backend passes addresses).
   */
  apply(params: Float32Array, gradient: Float32Array): void;
  /** Changes the learning rate from the next update on (schedules such as step decay). */
  setLearningRate(learningRate: number): void;
  /** Restores from a checkpoint: copies `state` (the names and lengths of `this.state`). */
  restore(iterations: number, state: Readonly<Record<string, Float32Array>>): void;
}

export class OptimizerError extends Error {
  readonly code = 'BAD_OPTIMIZER';
  constructor(message: string) {
    super(message);
    this.name = 'OptimizerError';
  }
}

/** Throws unless `config` has only the keys in `allowed` (catches typos such as `learning_rate`). */
export function checkKeys(config: object, allowed: readonly string[]): void {
  checkAllowedKeys(`optimizer ${String((config as { name?: unknown }).name)}`, config, allowed, (message) => new OptimizerError(message));
}

/** Throws unless `value` is a finite number in [low, high) (or [low, high] when highInclusive). */
export function checkRange(optimizer: string, option: string, value: unknown, low: number, high: number, highInclusive = false): number {
  const inRange = typeof value === 'number' && Number.isFinite(value) && value >= low && (highInclusive ? value <= high : value < high);
  if (!inRange) {
    const interval = high === Infinity ? `>= ${low}` : `in [${low}, ${high}${highInclusive ? ']' : ')'}`;
    throw new OptimizerError(`optimizer ${optimizer}: ${option} must be a finite number ${interval}, got ${String(value)}`);
  }
  return value;
}

/** Throws unless `value` is a finite number > 0. */
export function checkPositive(optimizer: string, option: string, value: unknown): number {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new OptimizerError(`optimizer ${optimizer}: ${option} must be a finite number > 0, got ${String(value)}`);
  }
  return value;
}

export function checkLearningRate(optimizer: string, learningRate: unknown): number {
  return checkRange(optimizer, 'learningRate', learningRate, 0, Infinity);
}

/**
 * What the three optimizers share: state allocation, length checks, the iteration count
 * and checkpoint restore. Subclasses name their state arrays and call their kernel.
 */
export abstract class BaseOptimizer<C extends ResolvedOptimizerConfig> implements Optimizer {
  readonly state: Readonly<Record<string, Float32Array>>;
  protected readonly kernels: Kernels;
  protected readonly paramCount: number;
  private currentConfig: C;
  private iterationCount = 0;

  /** `config` must already be validated, with every default filled in. */
  /** `storage`, when given, holds every state array (see createOptimizer); else the kernels allocate them. */
  protected constructor(config: C, kernels: Kernels, paramCount: number, stateNames: readonly string[], storage?: StateStorage) {
    if (!Number.isSafeInteger(paramCount) || paramCount <= 0) {
      throw new OptimizerError(`optimizer ${config.name}: paramCount must be a positive integer, got ${paramCount}`);
    }
    this.currentConfig = Object.freeze({ ...config });
    this.kernels = kernels;
    this.paramCount = paramCount;
    if (storage !== undefined) checkStorage(config.name, storage, stateNames, paramCount);
    const state: Record<string, Float32Array> = {};
    for (const stateName of stateNames) state[stateName] = storage?.[stateName] ?? kernels.allocate(paramCount);
    this.state = Object.freeze(state);
  }

  get name(): C['name'] {
    return this.currentConfig.name;
  }

  get config(): C {
    return this.currentConfig;
  }

  get iterations(): number {
    return this.iterationCount;
  }

  get learningRate(): number {
    return this.currentConfig.learningRate;
  }

  setLearningRate(learningRate: number): void {
    checkLearningRate(this.name, learningRate);
    this.currentConfig = Object.freeze({ ...this.currentConfig, learningRate } as C);
  }

  /** The kernel call for update number `step` (1-based). */
  protected abstract update(params: Float32Array, gradient: Float32Array, step: number): void;

  apply(params: Float32Array, gradient: Float32Array): void {
    if (params.length !== this.paramCount || gradient.length !== this.paramCount) {
      throw new OptimizerError(
        `optimizer ${this.name}: expected ${this.paramCount} params and gradients, got ${params.length} and ${gradient.length}`,
      );
    }
    this.update(params, gradient, this.iterationCount + 1);
    this.iterationCount++;
  }

  restore(iterations: number, state: Readonly<Record<string, Float32Array>>): void {
    if (!Number.isSafeInteger(iterations) || iterations < 0) {
      throw new OptimizerError(`optimizer ${this.name}: iterations must be a non-negative integer, got ${iterations}`);
    }
    const expected = Object.keys(this.state).sort();
    const given = Object.keys(state).sort();
    if (expected.join(',') !== given.join(',')) {
      throw new OptimizerError(`optimizer ${this.name}: state must hold [${expected.join(', ')}], got [${given.join(', ')}]`);
    }
    for (const stateName of expected) {
      const source = state[stateName]!;
      if (source.length !== this.paramCount) {
        throw new OptimizerError(
          `optimizer ${this.name}: state "${stateName}" has ${source.length} values, expected ${this.paramCount}`,
        );
      }
    }
    // Copy only once everything is checked, so a bad checkpoint leaves the optimizer as it was.
    for (const stateName of expected) this.state[stateName]!.set(state[stateName]!);
    this.iterationCount = iterations;
  }
}

function checkStorage(name: string, storage: StateStorage, stateNames: readonly string[], paramCount: number): void {
  const given = Object.keys(storage).sort();
  if (given.join(',') !== [...stateNames].sort().join(',')) {
    throw new OptimizerError(`optimizer ${name}: storage must hold [${stateNames.join(', ')}], got [${given.join(', ')}]`);
  }
  for (const stateName of stateNames) {
    if (storage[stateName]!.length !== paramCount) {
      throw new OptimizerError(`optimizer ${name}: storage "${stateName}" has ${storage[stateName]!.length} values, expected ${paramCount}`);
    }
  }
}
