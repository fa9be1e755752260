/**
 * Can the model learn at all? The first 256 MNIST training images must reach 100% training
 * accuracy within a bounded number of Adam steps (float32 reference kernels).
 * NOTE: a smaller spec than MNIST_CNN (conv 8 3x3 - pool - dense 64 - dense 10, 87k
 * parameters) keeps this under a few seconds on the ts kernels; MNIST_CNN's layers are the
 * same code, checked by the gradient checks.
 */
import { describe, expect, it } from 'vitest';
import { gatherImages, gatherLabels } from './data/dataset.js';
import { loadMnist } from './data/mnist.js';
import { createReferenceKernels } from './kernels/reference.js';
import { createModel } from './model.js';
import { createOptimizer } from './optimizers/create.js';
import { Rng } from './rng.js';
import type { ModelSpec } from './spec.js';

const SMALL_CNN: ModelSpec = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 64, activation: 'relu' },
    { type: 'dense', units: 10, activation: 'softmax' },
  ],
};

const COUNT = 256;
const BATCH = 32;
const MAX_EPOCHS = 20; // measured: 8 epochs (64 steps)

describe('overfitting 256 MNIST training images', () => {
  it(`reaches 100% training accuracy within ${MAX_EPOCHS} epochs of batch ${BATCH} (Adam, lr 3e-3)`, () => {
    const { train } = loadMnist();
    const indices = Uint32Array.from({ length: COUNT }, (_, i) => i);
    const images = new Float32Array(COUNT * 784);
    const labels = new Uint8Array(COUNT);
    gatherImages(train, indices, images);
    gatherLabels(train, indices, labels);
    expect(new Set(labels).size).toBe(10);

    const kernels = createReferenceKernels();
    const model = createModel(SMALL_CNN, { kernels, seed: 1 });
    const optimizer = createOptimizer({ name: 'adam', learningRate: 3e-3 }, kernels, model.paramCount);
    const rng = new Rng(2);
    const batchImages = new Float32Array(BATCH * 784);
    const batchLabels = new Uint8Array(BATCH);
    const initial = model.evaluate(images, labels);
    const history: string[] = [];
    let epochsNeeded = -1;
    for (let epoch = 1; epoch <= MAX_EPOCHS && epochsNeeded < 0; epoch++) {
      const order = rng.permutation(COUNT);
      for (let start = 0; start < COUNT; start += BATCH) {
        const batch = order.subarray(start, start + BATCH);
        for (let i = 0; i < BATCH; i++) {
          batchImages.set(images.subarray(batch[i]! * 784, (batch[i]! + 1) * 784), i * 784);
          batchLabels[i] = labels[batch[i]!]!;
        }
        optimizer.apply(model.params, model.lossAndGradient(batchImages, batchLabels).gradient);
      }
      const evaluation = model.evaluate(images, labels);
      history.push(`epoch ${epoch}: loss ${(evaluation.lossSum / COUNT).toFixed(4)}, accuracy ${evaluation.correct}/${COUNT}`);
      if (evaluation.correct === COUNT) epochsNeeded = epoch;
    }
    console.log(`overfit (initial loss ${(initial.lossSum / COUNT).toFixed(4)}, ${initial.correct}/${COUNT}):\n  ${history.join('\n  ')}`);
    expect(initial.correct).toBeLessThan(COUNT / 4); // it did not start out knowing the answers
    expect(epochsNeeded, history.join('; ')).toBeGreaterThan(0);
  });
});
