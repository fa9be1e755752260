/**
 * Picks an optimizer from its JSON-serialisable config (CLI flags, checkpoints), plus a
 * step-decay learning-rate schedule.
 */
import type { Kernels } from '../kernels/kernels.js';
import { Adadelta, resolveAdadeltaConfig } from './adadelta.js';
import { Adam, resolveAdamConfig } from './adam.js';
import { type Optimizer, type OptimizerConfig, OptimizerError, type ResolvedOptimizerConfig, type StateStorage } from './optimizer.js';
import { Sgd, resolveSgdConfig } from './sgd.js';

export const OPTIMIZER_NAMES = ['sgd', 'adadelta', 'adam'] as const;

/**
 * The optimizer `config` names. `storage`, when given, holds the arrays its state lives in
 * (by state name, paramCount floats each; default: the kernels allocate them).
 */
export function createOptimizer(config: OptimizerConfig, kernels: Kernels, paramCount: number, storage?: StateStorage): Optimizer {
  checkIsObject(config);
  switch (config.name) {
    case 'sgd':
      return new Sgd(config, kernels, paramCount, storage);
    case 'adadelta':
      return new Adadelta(config, kernels, paramCount, storage);
    case 'adam':
      return new Adam(config, kernels, paramCount, storage);
    default:
      throw unknownOptimizer(config);
  }
}

/** `config` with every default filled in (what the optimizer it names would hold); refuses what createOptimizer refuses. */
export function resolveOptimizerConfig(config: OptimizerConfig): ResolvedOptimizerConfig {
  checkIsObject(config);
  switch (config.name) {
    case 'sgd':
      return resolveSgdConfig(config);
    case 'adadelta':
      return resolveAdadeltaConfig(config);
    case 'adam':
      return resolveAdamConfig(config);
    default:
      throw unknownOptimizer(config);
  }
}

function checkIsObject(config: OptimizerConfig): void {
  if (typeof config !== 'object' || config === null) {
    throw new OptimizerError(`optimizer config must be an object with a name, got ${String(config)}`);
  }
}

function unknownOptimizer(config: unknown): OptimizerError {
  return new OptimizerError(`unknown optimizer "${String((config as { name?: unknown }).name)}" (expected one of: ${OPTIMIZER_NAMES.join(', ')})`);
}

/**
 * Step decay: the learning rate for `epoch` (0-based) is
 * initialRate * factor ^ floor(epoch / epochsPerDrop). Call `optimizer.setLearningRate`
 * with it at each epoch start.
 */
export function stepDecay(initialRate: number, factor: number, epochsPerDrop: number): (epoch: number) => number {
  if (!(Number.isFinite(initialRate) && initialRate >= 0)) {
    throw new OptimizerError(`stepDecay: initialRate must be a finite number >= 0, got ${initialRate}`);
  }
  if (!(Number.isFinite(factor) && factor > 0 && factor <= 1)) {
    throw new OptimizerError(`stepDecay: factor must be in (0, 1], got ${factor}`);
  }
  if (!(Number.isSafeInteger(epochsPerDrop) && epochsPerDrop >= 1)) {
    throw new OptimizerError(`stepDecay: epochsPerDrop must be an integer >= 1, got ${epochsPerDrop}`);
  }
  return (epoch) => initialRate * factor ** Math.floor(Math.max(0, epoch) / epochsPerDrop);
}
