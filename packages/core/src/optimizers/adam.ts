/**
 * Adam (Kingma & Ba 2015, "Adam: A method for stochastic optimization", Algorithm 1),
 * with Keras's default epsilon 1e-7 (the paper's is 1e-8). For update number t = 1, 2, ...:
 *
 *   m     = beta1 * m + (1 - beta1) * g
 *   v     = beta2 * v + (1 - beta2) * g^2
 *   mHat  = m / (1 - beta1^t)          (bias correction: m and v start at 0)
 *   vHat  = v / (1 - beta2^t)
 *   w     = w - learningRate * mHat / (sqrt(vHat) + epsilon)
 *
 * NOTE: t is iterations + 1 and must survive a checkpoint, or the bias correction restarts.
 */
import type { Kernels } from '../kernels/kernels.js';
import { type AdamConfig, BaseOptimizer, checkKeys, checkLearningRate, checkPositive, checkRange, type StateStorage } from './optimizer.js';

export const ADAM_DEFAULTS = { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;

export function resolveAdamConfig(config: AdamConfig): Required<AdamConfig> {
  checkKeys(config, ['name', 'learningRate', 'beta1', 'beta2', 'epsilon']);
  const resolved = { ...ADAM_DEFAULTS, ...config };
  checkLearningRate('adam', resolved.learningRate);
  checkRange('adam', 'beta1', resolved.beta1, 0, 1);
  checkRange('adam', 'beta2', resolved.beta2, 0, 1);
  checkPositive('adam', 'epsilon', resolved.epsilon);
  return resolved;
}

export class Adam extends BaseOptimizer<Required<AdamConfig>> {
  constructor(config: AdamConfig, kernels: Kernels, paramCount: number, storage?: StateStorage) {
    super(resolveAdamConfig(config), kernels, paramCount, ['m', 'v'], storage);
  }

  protected update(params: Float32Array, gradient: Float32Array, step: number): void {
    const { learningRate, beta1, beta2, epsilon } = this.config;
    this.kernels.adamUpdate(this.paramCount, params, gradient, this.state.m!, this.state.v!, learningRate, beta1, beta2, epsilon, step);
  }
}
