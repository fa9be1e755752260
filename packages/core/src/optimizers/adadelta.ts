/**
 * Adadelta (Zeiler 2012, "ADADELTA: An adaptive learning rate method", Algorithm 1), with
 * Keras's extra learning_rate factor on the update (1.0 gives Zeiler's method) and Keras's
 * epsilon 1e-7. The seed's Keras pipeline uses Adadelta(learning_rate=1.0).
 *
 *   E[g^2]   = rho * E[g^2] + (1 - rho) * g^2                          (accumulatedGrad)
 *   delta    = sqrt(E[dx^2] + epsilon) / sqrt(E[g^2] + epsilon) * g     (E[dx^2] before this step)
 *   E[dx^2]  = rho * E[dx^2] + (1 - rho) * delta^2                     (accumulatedDelta)
 *   w        = w - learningRate * delta
 */
import type { Kernels } from '../kernels/kernels.js';
import { type AdadeltaConfig, BaseOptimizer, checkKeys, checkLearningRate, checkPositive, checkRange, type StateStorage } from './optimizer.js';

export const ADADELTA_DEFAULTS = { learningRate: 1.0, rho: 0.95, epsilon: 1e-7 } as const;

export function resolveAdadeltaConfig(config: AdadeltaConfig): Required<AdadeltaConfig> {
  checkKeys(config, ['name', 'learningRate', 'rho', 'epsilon']);
  const resolved = { ...ADADELTA_DEFAULTS, ...config };
  checkLearningRate('adadelta', resolved.learningRate);
  checkRange('adadelta', 'rho', resolved.rho, 0, 1);
  // NOTE: epsilon > 0 is what makes the very first step non-zero: E[dx^2] starts at 0.
  checkPositive('adadelta', 'epsilon', resolved.epsilon);
  return resolved;
}

export class Adadelta extends BaseOptimizer<Required<AdadeltaConfig>> {
  constructor(config: AdadeltaConfig, kernels: Kernels, paramCount: number, storage?: StateStorage) {
    super(resolveAdadeltaConfig(config), kernels, paramCount, ['accumulatedGrad', 'accumulatedDelta'], storage);
  }

  protected update(params: Float32Array, gradient: Float32Array): void {
    const { learningRate, rho, epsilon } = this.config;
    const { accumulatedGrad, accumulatedDelta } = this.state;
    this.kernels.adadeltaUpdate(this.paramCount, params, gradient, accumulatedGrad!, accumulatedDelta!, learningRate, rho, epsilon);
  }
}
