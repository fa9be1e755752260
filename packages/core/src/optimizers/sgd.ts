/**
 * Stochastic gradient descent (Robbins & Monro 1951), the seed project's optimizer, with
 * optional momentum (Polyak 1964) and Nesterov momentum in the form Keras uses
 * (Sutskever et al. 2013, "On the importance of initialization and momentum in deep learning"):
 *
 *   velocity = momentum * velocity - learningRate * g
 *   w        = w + velocity                                   (classical momentum)
 *   w        = w + momentum * velocity - learningRate * g     (Nesterov)
 *
 * With momentum 0 this is w -= learningRate * g.
 */
import type { Kernels } from '../kernels/kernels.js';
import { BaseOptimizer, checkKeys, checkLearningRate, checkRange, OptimizerError, type SgdConfig, type StateStorage } from './optimizer.js';

export const SGD_DEFAULTS = { momentum: 0, nesterov: false } as const;

export function resolveSgdConfig(config: SgdConfig): Required<SgdConfig> {
  checkKeys(config, ['name', 'learningRate', 'momentum', 'nesterov']);
  const resolved = { ...SGD_DEFAULTS, ...config };
  if (config.learningRate === undefined) throw new OptimizerError('optimizer sgd: learningRate is required (no default)');
  checkLearningRate('sgd', resolved.learningRate);
  checkRange('sgd', 'momentum', resolved.momentum, 0, 1);
  if (typeof resolved.nesterov !== 'boolean') {
    throw new OptimizerError(`optimizer sgd: nesterov must be true or false, got ${String(resolved.nesterov)}`);
  }
  if (resolved.nesterov && resolved.momentum === 0) {
    throw new OptimizerError('optimizer sgd: nesterov needs momentum > 0');
  }
  return resolved;
}

export class Sgd extends BaseOptimizer<Required<SgdConfig>> {
  constructor(config: SgdConfig, kernels: Kernels, paramCount: number, storage?: StateStorage) {
    // NOTE: velocity exists even with momentum 0 (the kernel's signature takes it), so a
    // checkpoint of SGD always holds the same one state array.
    super(resolveSgdConfig(config), kernels, paramCount, ['velocity'], storage);
  }

  protected update(params: Float32Array, gradient: Float32Array): void {
    const { learningRate, momentum, nesterov } = this.config;
    this.kernels.sgdUpdate(this.paramCount, params, gradient, this.state.velocity!, learningRate, momentum, nesterov);
  }
}
