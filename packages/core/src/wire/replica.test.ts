import { describe, expect, it } from 'vitest';
import { createReferenceKernels } from '../kernels/reference.js';
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { Rng } from '../rng.js';
import { applyReplicaUpdate, replicaHash, replicaStateNames, updateScalars } from './replica.js';

const N = 5_000;

function randomArray(rng: Rng, scale: number, positive = false): Float32Array {
  return Float32Array.from({ length: N }, () => (positive ? rng.nextFloat() : rng.nextFloat() - 0.5) * scale);
}

/** The optimizer kernels of the TypeScript reference (float64 arithmetic): the independent answer. */
function referenceUpdate(config: ResolvedOptimizerConfig, params: Float32Array, gradient: Float32Array, state: Float32Array[], t: number): void {
  const kernels = createReferenceKernels();
  switch (config.name) {
    case 'sgd':
      return kernels.sgdUpdate(N, params, gradient, state[0]!, config.learningRate, config.momentum, config.nesterov);
    case 'adadelta':
      return kernels.adadeltaUpdate(N, params, gradient, state[0]!, state[1]!, config.learningRate, config.rho, config.epsilon);
    case 'adam':
      return kernels.adamUpdate(N, params, gradient, state[0]!, state[1]!, config.learningRate, config.beta1, config.beta2, config.epsilon, t);
  }
}

function largestDifference(a: Float32Array, b: Float32Array): number {
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i]! - b[i]!));
  return largest;
}

describe('applyReplicaUpdate agrees with the optimizer kernels', () => {
  it.each<[string, ResolvedOptimizerConfig]>([
    ['sgd momentum=0.9 nesterov', { name: 'sgd', learningRate: 0.05, momentum: 0.9, nesterov: true }],
    ['sgd momentum=0.5', { name: 'sgd', learningRate: 0.05, momentum: 0.5, nesterov: false }],
    ['adadelta lr=1 rho=0.95', { name: 'adadelta', learningRate: 1, rho: 0.95, epsilon: 1e-7 }],
    ['adam lr=0.001', { name: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }],
  ])('%s, over 5 updates', (_name, config) => {
    const rng = new Rng(3);
    const params = randomArray(rng, 2);
    const state = replicaStateNames(config).map(() => new Float32Array(N));
    const expectedParams = params.slice();
    const expectedState = state.map((array) => array.slice());
    for (let t = 1; t <= 5; t++) {
      const gradient = randomArray(rng, 0.2);
      applyReplicaUpdate(config, updateScalars(config, config.learningRate, t), params, gradient, state);
      referenceUpdate(config, expectedParams, gradient, expectedState, t);
    }
    expect(largestDifference(params, expectedParams)).toBeLessThan(1e-5);
    state.forEach((array, s) => expect(largestDifference(array, expectedState[s]!)).toBeLessThan(1e-6));
  });

  it('is deterministic: two replicas given the same updates hold the same bits', () => {
    const config: ResolvedOptimizerConfig = { name: 'adadelta', learningRate: 1, rho: 0.95, epsilon: 1e-7 };
    const rng = new Rng(9);
    const a = randomArray(rng, 1);
    const b = a.slice();
    const stateA = [new Float32Array(N), new Float32Array(N)];
    const stateB = [new Float32Array(N), new Float32Array(N)];
    for (let t = 1; t <= 10; t++) {
      const gradient = randomArray(rng, 0.1);
      applyReplicaUpdate(config, updateScalars(config, 0.7 ** t, t), a, gradient, stateA);
      applyReplicaUpdate(config, updateScalars(config, 0.7 ** t, t), b, gradient.slice(), stateB);
    }
    expect(replicaHash(a)).toBe(replicaHash(b));
    b[17] = Math.fround(b[17]! * (1 + 2 ** -23));
    expect(replicaHash(a)).not.toBe(replicaHash(b));
  });
});

describe('replicaHash', () => {
  it('is FNV-1a over the float32 words (hand-computed for one word)', () => {
    // FNV-1a of the single word 0: offset basis times the prime, mod 2^32.
    expect(replicaHash(new Float32Array(1))).toBe(Number((0x811c9dc5n * 0x01000193n) % 2n ** 32n));
  });
});
