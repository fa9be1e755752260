/**
 * Resident memory of a worker-like process: MNIST loaded as a worker loads it (train and
 * test sets), the default model on a worker's kernels computing gradient sums of
 * batch-64 slices and forward-only evaluation. Prints one JSON line. Run by
 * bench/train.ts in a fresh process (so nothing else inflates it), once per chunk size
 * (CONVOY_BENCH_CHUNK, default 64): the activations of one chunk are most of the model's memory.
 */
import { createModel, gatherImages, gatherLabels, MNIST_CNN, type KernelsChoice } from '../packages/core/src/index.js';
import { loadMnist, selectNodeKernels } from '../packages/core/src/node.js';

const start = process.memoryUsage().rss;
const { train, test } = loadMnist();
const afterData = process.memoryUsage().rss;
const chunkSize = Number(process.env.CONVOY_BENCH_CHUNK ?? 64);
// The backend a worker picks (CONVOY_BENCH_KERNELS, default auto: native > wasm > ts).
const kernels = selectNodeKernels((process.env.CONVOY_BENCH_KERNELS ?? 'auto') as KernelsChoice);
const model = createModel(MNIST_CNN, { seed: 1, chunkSize, kernels });
const batch = 64;
const images = new Float32Array(batch * 784);
const labels = new Uint8Array(batch);
const afterModel = process.memoryUsage().rss;
for (let step = 0; step < 20; step++) {
  const indices = Array.from({ length: batch }, (_, i) => (step * batch + i) % train.count);
  gatherImages(train, indices, images);
  gatherLabels(train, indices, labels);
  model.gradientSum(images, labels);
}
for (let step = 0; step < 20; step++) {
  const indices = Array.from({ length: batch }, (_, i) => (step * batch + i) % test.count);
  gatherImages(test, indices, images);
  gatherLabels(test, indices, labels);
  model.evaluate(images, labels);
}
const MiB = 2 ** 20;
console.log(
  JSON.stringify({
    kernels: model.kernels.description,
    rssBytes: process.memoryUsage().rss,
    startMiB: Math.round(start / MiB),
    afterDataMiB: Math.round(afterData / MiB),
    afterModelMiB: Math.round(afterModel / MiB),
  }),
);
