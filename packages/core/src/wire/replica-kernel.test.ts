/**
 * The WebAssembly replica update gives the TypeScript one's bits (replica-kernel.ts), on
 * random data with a length that leaves a scalar tail, for every optimizer, over several updates (so state feeds back into the results).
 */
import { describe, expect, it } from 'vitest';
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { Rng } from '../rng.js';
import { extrapolate } from './lookahead.js';
import { updateScalars } from './replica.js';
import { createReplicaArrays, type ReplicaArrays } from './replica-kernel.js';

const N = 10_007;

function fill(target: Float32Array, rng: Rng, scale: number, zeros = 0): void {
  for (let i = 0; i < target.length; i++) target[i] = rng.nextFloat() < zeros ? 0 : (rng.nextFloat() - 0.5) * scale;
}

/** How many float32 words of the replicas' parameters and state differ in their bits (a NaN or -0 difference counts too). */
function differingWords(a: ReplicaArrays, b: ReplicaArrays): number {
  let count = 0;
  [a.params, ...a.state].forEach((array, k) => {
    const left = new Uint32Array(array.buffer, array.byteOffset, array.length);
    const right = k === 0 ? b.params : b.state[k - 1]!;
    const rightBits = new Uint32Array(right.buffer, right.byteOffset, right.length);
    for (let i = 0; i < left.length; i++) if (left[i] !== rightBits[i]) count++;
  });
  return count;
}

describe('the WebAssembly replica update', () => {
  it.each<[string, ResolvedOptimizerConfig]>([
    ['sgd momentum=0.9 nesterov', { name: 'sgd', learningRate: 0.05, momentum: 0.9, nesterov: true }],
    ['sgd momentum=0.5', { name: 'sgd', learningRate: 0.05, momentum: 0.5, nesterov: false }],
    ['adadelta', { name: 'adadelta', learningRate: 1, rho: 0.95, epsilon: 1e-7 }],
    ['adam', { name: 'adam', learningRate: 0.002, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }],
  ])('gives the TypeScript update\'s bits: %s', (_name, config) => {
    const wasm = createReplicaArrays(config, N, { prefer: 'wasm' });
    const js = createReplicaArrays(config, N, { prefer: 'js' });
    expect(wasm.kind).toBe('wasm');
    expect(js.kind).toBe('js');
    const rng = new Rng(21);
    fill(wasm.params, rng, 2);
    js.params.set(wasm.params);
    for (let t = 1; t <= 8; t++) {
      // Sparse like topk's updates (most entries 0), with magnitudes over many binades.
      fill(wasm.gradient, rng, 10 ** (2 - t), 0.7);
      js.gradient.set(wasm.gradient);
      const scalars = updateScalars(config, config.learningRate * 0.7 ** t, t);
      wasm.apply(scalars);
      js.apply(scalars);
      expect(differingWords(wasm, js)).toBe(0);
    }
    // Not vacuous: the updates moved most parameters.
    const start = new Rng(21);
    const initial = new Float32Array(N);
    fill(initial, start, 2);
    expect(initial.filter((value, i) => value !== js.params[i]).length).toBeGreaterThan(N / 2);
  });
});

describe('--overlap\'s lookahead in the replica update (ahead)', () => {
  const adam: ResolvedOptimizerConfig = { name: 'adam', learningRate: 0.002, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
  const bits = (values: Float32Array) => Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));

  it.each(['wasm', 'js'] as const)('%s: every update writes extrapolate(params after, params before), bit for bit; extrapolate() from the version before written into ahead', (prefer) => {
    const replica = createReplicaArrays(adam, N, { prefer, ahead: true });
    expect(replica.kind).toBe(prefer);
    const rng = new Rng(9);
    fill(replica.params, rng, 2);
    // Near float32's largest values: (p + p) overflows to Infinity, as the TypeScript's fround(2p) does.
    replica.params[0] = 3e38;
    replica.params[1] = -2e38;
    for (let t = 1; t <= 4; t++) {
      fill(replica.gradient, rng, 10 ** (1 - t), 0.5);
      const before = replica.params.slice();
      replica.apply(updateScalars(adam, adam.learningRate, t));
      const expected = extrapolate(new Float32Array(N), replica.params, before);
      expect(bits(replica.ahead!)).toEqual(bits(expected));
      expect(replica.ahead![0]).toBe(Infinity);
    }
    const previous = Float32Array.from({ length: N }, () => rng.nextFloat() - 0.5);
    replica.ahead!.set(previous);
    replica.extrapolate();
    expect(bits(replica.ahead!)).toEqual(bits(extrapolate(new Float32Array(N), replica.params, previous)));
  });

  it('is not kept unless asked for', () => {
    expect(createReplicaArrays(adam, N).ahead).toBeNull();
  });
});
