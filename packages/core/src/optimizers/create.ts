/**
 * Picks an optimizer from its JSON-serialisable config (CLI flags, checkpoints), plus a
 * step-decay learning-rate schedule.
 */
import type { Kernels } from '../kernels/kernels.js';
import { Adadelta } from './adadelta.js';
import { Adam } from './adam.js';
import { type Optimizer, type OptimizerConfig, OptimizerError } from './optimizer.js';
import { Sgd } from './sgd.js';

export const OPTIMIZER_NAMES = ['sgd', 'adadelta', 'adam'] as const;

export function createOptimizer(config: OptimizerConfig, kernels: Kernels, paramCount: number): Optimizer {
  if (typeof config !== 'object' || config === null) {
    throw new OptimizerError(`optimizer config must be an object with a name, got ${String(config)}`);
  }
  switch (config.name) {
    case 'sgd':
      return new Sgd(config, kernels, paramCount);
    case 'adadelta':
      return new Adadelta(config, kernels, paramCount);
    case 'adam':
      return new Adam(config, kernels, paramCount);
    default:
      throw new OptimizerError(
        `unknown optimizer "${String((config as { name?: unknown }).name)}" (expected one of: ${OPTIMIZER_NAMES.join(', ')})`,
      );
  }
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
