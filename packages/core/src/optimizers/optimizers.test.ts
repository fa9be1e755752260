/**
 * Golden values computed by hand from each paper's formula (in float64; the comments show
 * the arithmetic), for three updates of a 3-element vector:
 *
 *   w0 = [1, -2, 0.5]
 *   g1 = [0.5, -1, 2]      g2 = [-0.5, 0.25, 1]      g3 = [1, 0, -2]
 *
 * The optimizer runs in float32, so comparisons allow 2e-6 relative (float32 has ~6e-8).
 * The golden values are checked on every kernel backend: the update is a kernel.
 */
import { describe, expect, it } from 'vitest';
import type { Kernels } from '../kernels/kernels.js';
import { createReferenceKernels } from '../kernels/reference.js';
import { bestWasmVariant, createWasmKernels } from '../kernels/wasm/index.js';
import { ADADELTA_DEFAULTS } from './adadelta.js';
import { ADAM_DEFAULTS } from './adam.js';
import { createOptimizer, stepDecay } from './create.js';
import type { OptimizerConfig } from './optimizer.js';

const W0 = [1, -2, 0.5];
const GRADIENTS = [
  [0.5, -1, 2],
  [-0.5, 0.25, 1],
  [1, 0, -2],
];

function expectClose(actual: ArrayLike<number>, expected: readonly number[], relative = 2e-6): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = relative * Math.max(1, Math.abs(expected[i]!));
    if (!(Math.abs(actual[i]! - expected[i]!) <= tolerance)) {
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]} (tolerance ${tolerance})`);
    }
  }
}

const BACKENDS: Array<[string, () => Kernels]> = [
  ['ts', () => createReferenceKernels()],
  ['wasm-simd', () => createWasmKernels({ variant: 'simd', memoryBytes: 1 << 20 })],
];
if (bestWasmVariant() === 'relaxed') BACKENDS.push(['wasm-relaxed', () => createWasmKernels({ variant: 'relaxed', memoryBytes: 1 << 20 })]);

/** An optimizer over W0 and a function that applies the next gradient of GRADIENTS. */
function setUp(config: OptimizerConfig, kernels: Kernels = createReferenceKernels()) {
  const optimizer = createOptimizer(config, kernels, 3);
  const params = kernels.allocate(3);
  params.set(W0);
  const gradient = kernels.allocate(3);
  let next = 0;
  const step = (): Float32Array => {
    gradient.set(GRADIENTS[next++]!);
    optimizer.apply(params, gradient);
    return params;
  };
  return { optimizer, params, step };
}

for (const [backend, makeKernels] of BACKENDS) {
  describe(`${backend}: SGD (Robbins & Monro 1951; Keras momentum and Nesterov)`, () => {
    it('plain, lr=0.1: w -= lr*g', () => {
      const { step } = setUp({ name: 'sgd', learningRate: 0.1 }, makeKernels());
      expectClose(step(), [0.95, -1.9, 0.3]); //   [1 - 0.05, -2 + 0.1, 0.5 - 0.2]
      expectClose(step(), [1.0, -1.925, 0.2]); //  [0.95 + 0.05, -1.9 - 0.025, 0.3 - 0.1]
      expectClose(step(), [0.9, -1.925, 0.4]); //  [1 - 0.1, -1.925 - 0, 0.2 + 0.2]
    });

    it('momentum=0.9, lr=0.1: v = 0.9v - 0.1g; w += v', () => {
      const { optimizer, step } = setUp({ name: 'sgd', learningRate: 0.1, momentum: 0.9 }, makeKernels());
      expectClose(step(), [0.95, -1.9, 0.3]); // v1 = [-0.05, 0.1, -0.2]
      expectClose(optimizer.state.velocity!, [-0.05, 0.1, -0.2]);
      expectClose(step(), [0.955, -1.835, 0.02]); // v2 = [-0.045+0.05, 0.09-0.025, -0.18-0.1] = [0.005, 0.065, -0.28]
      expectClose(optimizer.state.velocity!, [0.005, 0.065, -0.28]);
      expectClose(step(), [0.8595, -1.7765, -0.032]); // v3 = [0.0045-0.1, 0.0585-0, -0.252+0.2] = [-0.0955, 0.0585, -0.052]
    });

    it('Nesterov, momentum=0.9, lr=0.1: v = 0.9v - 0.1g; w += 0.9v - 0.1g', () => {
      const { step } = setUp({ name: 'sgd', learningRate: 0.1, momentum: 0.9, nesterov: true }, makeKernels());
      // v1 = [-0.05, 0.1, -0.2];   w1 = [1 - 0.045 - 0.05, -2 + 0.09 + 0.1, 0.5 - 0.18 - 0.2]
      expectClose(step(), [0.905, -1.81, 0.12]);
      // v2 = [0.005, 0.065, -0.28]; w2 = [0.905 + 0.0045 + 0.05, -1.81 + 0.0585 - 0.025, 0.12 - 0.252 - 0.1]
      expectClose(step(), [0.9595, -1.7765, -0.232]);
      // v3 = [-0.0955, 0.0585, -0.052]; w3 = [0.9595 - 0.08595 - 0.1, -1.7765 + 0.05265 - 0, -0.232 - 0.0468 + 0.2]
      expectClose(step(), [0.77355, -1.72385, -0.0788]);
    });
  });

  describe(`${backend}: Adadelta (Zeiler 2012, Keras learning_rate factor)`, () => {
    it('rho=0.5, epsilon=0.01, lr=1: three updates and both accumulators', () => {
      const { optimizer, step } = setUp({ name: 'adadelta', learningRate: 1, rho: 0.5, epsilon: 0.01 }, makeKernels());
      // Eg = 0.5*0 + 0.5*g^2 = [0.125, 0.5, 2]
      // delta = sqrt(0 + 0.01) / sqrt(Eg + 0.01) * g: element 0 = 0.1 / sqrt(0.135) * 0.5 = 0.13608276
      // Ed = 0.5*0 + 0.5*delta^2: element 0 = 0.5 * 0.13608276^2 = 0.00925926
      expectClose(step(), [0.8639172365120457, -1.859971991597199, 0.35893087682828034]);
      expectClose(optimizer.state.accumulatedGrad!, [0.125, 0.5, 2]);
      expectClose(optimizer.state.accumulatedDelta!, [0.009259259259259259, 0.009803921568627453, 0.009950248756218905]);
      // Eg = 0.5*[0.125, 0.5, 2] + 0.5*[0.25, 0.0625, 1] = [0.1875, 0.28125, 1.5]
      // element 0: delta = sqrt(0.00925926 + 0.01) / sqrt(0.1875 + 0.01) * (-0.5) = -0.15613715; w = 0.86391724 + 0.15613715
      expectClose(step(), [1.020054385163274, -1.9251622406913595, 0.2439870415476567]);
      expectClose(optimizer.state.accumulatedGrad!, [0.1875, 0.28125, 1.5]);
      expectClose(optimizer.state.accumulatedDelta!, [0.016819034224097515, 0.007026845072793066, 0.011581167012619024]);
      // element 1 has g = 0: delta = 0, w unchanged, Eg and Ed halve
      expectClose(step(), [0.8092920530931832, -1.9251622406913595, 0.420840239543839]);
      expectClose(optimizer.state.accumulatedGrad!, [0.59375, 0.140625, 2.75]);
    });

    it('Keras defaults (lr=1, rho=0.95, epsilon=1e-7): the first step is sqrt(eps)/sqrt(0.05 g^2 + eps) * g', () => {
      const { optimizer, step } = setUp({ name: 'adadelta' }, makeKernels());
      expect(optimizer.config).toEqual({ name: 'adadelta', ...ADADELTA_DEFAULTS });
      expect(ADADELTA_DEFAULTS).toEqual({ learningRate: 1, rho: 0.95, epsilon: 1e-7 });
      // element 0: 3.1622777e-4 / sqrt(0.0125 + 1e-7) * 0.5 = 1.4142079e-3 (about sqrt(2)*1e-3 for every g != 0)
      expectClose(step(), [0.9985857920944472, -1.9985857878518383, 0.49858578679118015]);
      expectClose(step(), [1.0000180160401944, -1.9990826911076183, 0.49767291616629505]);
    });
  });

  describe(`${backend}: Adam (Kingma & Ba 2015, Algorithm 1)`, () => {
    it('lr=0.1, beta1=0.9, beta2=0.999, epsilon=1e-7: bias correction at t=1, t=2, t=3', () => {
      const { optimizer, step } = setUp({ name: 'adam', learningRate: 0.1 }, makeKernels());
      // t=1: m = 0.1g, v = 0.001g^2; mHat = m/(1-0.9) = g, vHat = v/(1-0.999) = g^2,
      //      so w -= 0.1 * g/(|g| + 1e-7) = 0.1*sign(g). (Without the correction it would be 0.1*0.1g/(sqrt(0.001)|g|) = 0.316*sign(g).)
      expectClose(step(), [0.900000019999996, -1.900000009999999, 0.40000000499999977]);
      expectClose(optimizer.state.m!, [0.05, -0.1, 0.2]);
      expectClose(optimizer.state.v!, [0.00025, 0.001, 0.004]);
      expect(optimizer.iterations).toBe(1);
      // t=2, element 0: m = 0.9*0.05 + 0.1*(-0.5) = -0.005;  v = 0.999*0.00025 + 0.001*0.25 = 0.00049975
      //      mHat = -0.005/(1 - 0.81) = -0.02631579;  vHat = 0.00049975/(1 - 0.998001) = 0.25
      //      w = 0.9 - 0.1 * (-0.02631579)/(0.5 + 1e-7) = 0.90526318
      expectClose(step(), [0.9052631768421014, -1.8530531993216814, 0.3067820470153659]);
      expectClose(optimizer.state.m!, [-0.005, -0.065, 0.28]);
      expectClose(optimizer.state.v!, [0.00049975, 0.0010615, 0.004996]);
      // t=3: corrections 1 - 0.9^3 = 0.271 and 1 - 0.999^3 = 0.002997001
      expectClose(step(), [0.855438969491621, -1.8167631797216137, 0.2957037405227615]);
    });

    it('epsilon is added to sqrt(vHat) (Algorithm 1), not to sqrt(v) (the paper\'s efficient form)', () => {
      // With epsilon=0.1 the two forms differ visibly. t=1, element 0: 0.1 * 0.5/(0.5 + 0.1) = 0.0833333,
      // whereas 0.1*sqrt(0.001)/0.1 * 0.05/(sqrt(0.00025) + 0.1) would give 0.0136527.
      const { step } = setUp({ name: 'adam', learningRate: 0.1, epsilon: 0.1 }, makeKernels());
      expectClose(step(), [0.9166666666666666, -1.9090909090909092, 0.40476190476190477]);
      expectClose(step(), [0.9210526315789473, -1.8678091526380753, 0.3170896532628612]);
    });

    it('defaults are Keras\'s', () => {
      expect(createOptimizer({ name: 'adam' }, makeKernels(), 1).config).toEqual({ name: 'adam', ...ADAM_DEFAULTS });
      expect(ADAM_DEFAULTS).toEqual({ learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    });
  });
}

describe('optimizer state and checkpoints', () => {
  const configs: OptimizerConfig[] = [
    { name: 'sgd', learningRate: 0.1, momentum: 0.9, nesterov: true },
    { name: 'adadelta', rho: 0.5, epsilon: 0.01 },
    { name: 'adam', learningRate: 0.1 },
  ];

  for (const config of configs) {
    it(`${config.name}: restore after 2 updates continues exactly like the uninterrupted run`, () => {
      const kernels = createReferenceKernels();
      const uninterrupted = setUp(config, kernels);
      uninterrupted.step();
      uninterrupted.step();
      const saved = Object.fromEntries(Object.entries(uninterrupted.optimizer.state).map(([name, array]) => [name, array.slice()]));
      const savedParams = uninterrupted.params.slice();
      uninterrupted.step();

      const resumed = createOptimizer(config, kernels, 3);
      resumed.restore(2, saved);
      expect(resumed.iterations).toBe(2);
      const params = kernels.allocate(3);
      params.set(savedParams);
      const gradient = kernels.allocate(3);
      gradient.set(GRADIENTS[2]!);
      resumed.apply(params, gradient);
      expect(Array.from(params)).toEqual(Array.from(uninterrupted.params));
    });
  }

  it('state arrays come from kernels.allocate, one per name, paramCount long', () => {
    const kernels = createReferenceKernels();
    const allocate = kernels.allocate.bind(kernels);
    const allocated: Float32Array[] = [];
    kernels.allocate = (length) => {
      const array = allocate(length);
      allocated.push(array);
      return array;
    };
    const optimizer = createOptimizer({ name: 'adam' }, kernels, 5);
    expect(Object.keys(optimizer.state).sort()).toEqual(['m', 'v']);
    expect(allocated).toHaveLength(2);
    expect(allocated).toContain(optimizer.state.m);
    expect(allocated).toContain(optimizer.state.v);
    expect(optimizer.state.m!.length).toBe(5);
  });

  it('state lives in the storage given (every name, paramCount long), which the update then changes; other storage is refused', () => {
    const kernels = createReferenceKernels();
    const storage = { m: new Float32Array(3), v: new Float32Array(3) };
    const optimizer = createOptimizer({ name: 'adam', learningRate: 0.1 }, kernels, 3, storage);
    expect(optimizer.state.m).toBe(storage.m);
    expect(optimizer.state.v).toBe(storage.v);
    optimizer.apply(Float32Array.of(1, 2, 3), Float32Array.of(0.5, -1, 2));
    expect(Array.from(storage.m, (value) => Math.round(value * 1e6) / 1e6)).toEqual([0.05, -0.1, 0.2]);
    expect(() => createOptimizer({ name: 'adam' }, kernels, 3, { m: storage.m })).toThrow(/storage must hold \[m, v\], got \[m\]/);
    expect(() => createOptimizer({ name: 'sgd', learningRate: 0.1 }, kernels, 3, { velocity: new Float32Array(4) })).toThrow(/storage "velocity" has 4 values, expected 3/);
  });

  it('restore rejects wrong names, wrong lengths and bad iterations, and leaves the state untouched', () => {
    const optimizer = createOptimizer({ name: 'adadelta' }, createReferenceKernels(), 3);
    const good = new Float32Array([1, 2, 3]);
    expect(() => optimizer.restore(1, { accumulatedGrad: good })).toThrow(/state must hold \[accumulatedDelta, accumulatedGrad\], got \[accumulatedGrad\]/);
    expect(() => optimizer.restore(1, { accumulatedGrad: good, accumulatedDelta: new Float32Array(4) })).toThrow(
      /"accumulatedDelta" has 4 values, expected 3/,
    );
    expect(() => optimizer.restore(-1, { accumulatedGrad: good, accumulatedDelta: good })).toThrow(/iterations/);
    expect(Array.from(optimizer.state.accumulatedGrad!)).toEqual([0, 0, 0]);
    expect(optimizer.iterations).toBe(0);
  });

  it('apply rejects arrays of the wrong length', () => {
    const kernels = createReferenceKernels();
    const optimizer = createOptimizer({ name: 'sgd', learningRate: 0.1 }, kernels, 3);
    expect(() => optimizer.apply(kernels.allocate(3), kernels.allocate(4))).toThrow(/expected 3 params and gradients, got 3 and 4/);
  });
});

describe('learning rate changes and schedules', () => {
  it('setLearningRate applies from the next update on and shows in config', () => {
    const { optimizer, step } = setUp({ name: 'sgd', learningRate: 0.1 });
    expectClose(step(), [0.95, -1.9, 0.3]);
    optimizer.setLearningRate(0.2);
    expect(optimizer.config.learningRate).toBe(0.2);
    expect(optimizer.learningRate).toBe(0.2);
    expectClose(step(), [1.05, -1.95, 0.1]); // w1 - 0.2*g2 = [0.95 + 0.1, -1.9 - 0.05, 0.3 - 0.2]
    expect(() => optimizer.setLearningRate(-1)).toThrow(/learningRate must be a finite number >= 0, got -1/);
  });

  it('stepDecay(1, 0.5, 2) gives 1, 1, 0.5, 0.5, 0.25 for epochs 0..4', () => {
    const schedule = stepDecay(1, 0.5, 2);
    expect([0, 1, 2, 3, 4].map(schedule)).toEqual([1, 1, 0.5, 0.5, 0.25]);
    expect(() => stepDecay(1, 0, 2)).toThrow(/factor/);
    expect(() => stepDecay(1, 0.5, 0)).toThrow(/epochsPerDrop/);
  });
});

describe('impossible configs throw BAD_OPTIMIZER with a one-line message', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['negative learning rate', { name: 'sgd', learningRate: -0.1 }, /sgd: learningRate must be a finite number >= 0, got -0.1/],
    ['NaN learning rate', { name: 'adam', learningRate: Number.NaN }, /adam: learningRate .* got NaN/],
    ['sgd without learning rate', { name: 'sgd' }, /sgd: learningRate is required/],
    ['momentum 1', { name: 'sgd', learningRate: 0.1, momentum: 1 }, /momentum must be a finite number in \[0, 1\), got 1/],
    ['nesterov without momentum', { name: 'sgd', learningRate: 0.1, nesterov: true }, /nesterov needs momentum > 0/],
    ['rho 1', { name: 'adadelta', rho: 1 }, /adadelta: rho must be a finite number in \[0, 1\), got 1/],
    ['rho negative', { name: 'adadelta', rho: -0.5 }, /rho .* got -0.5/],
    ['epsilon 0', { name: 'adadelta', epsilon: 0 }, /epsilon must be a finite number > 0, got 0/],
    ['beta1 1', { name: 'adam', beta1: 1 }, /adam: beta1 .* got 1/],
    ['beta2 1.5', { name: 'adam', beta2: 1.5 }, /adam: beta2 .* got 1.5/],
    ['a misspelt option', { name: 'adam', learning_rate: 0.1 }, /adam: unknown option "learning_rate"/],
    ['an unknown optimizer', { name: 'rmsprop' }, /unknown optimizer "rmsprop" \(expected one of: sgd, adadelta, adam\)/],
  ];
  for (const [what, config, message] of cases) {
    it(what, () => {
      let error: unknown;
      try {
        createOptimizer(config as OptimizerConfig, createReferenceKernels(), 3);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(Error);
      expect((error as { code?: string }).code).toBe('BAD_OPTIMIZER');
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    });
  }

  it('paramCount must be a positive integer', () => {
    expect(() => createOptimizer({ name: 'adam' }, createReferenceKernels(), 0)).toThrow(/paramCount must be a positive integer, got 0/);
  });
});
