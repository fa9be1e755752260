/**
 * Resident memory of a worker-like process: the default model on the default kernels
 * computing gradient sums of batch-64 slices and forward-only evaluation, no dataset
 * held. Prints one JSON line. Run by bench/train.ts in a fresh process.
 */
import { createModel, MNIST_CNN } from '../packages/core/src/index.js';

const model = createModel(MNIST_CNN, { seed: 1 });
const batch = 64;
const images = new Float32Array(batch * 784).map((_, i) => (i % 255) / 255);
const labels = new Uint8Array(batch).map((_, i) => i % 10);
const baseline = process.memoryUsage().rss;
for (let step = 0; step < 20; step++) model.gradientSum(images, labels);
for (let step = 0; step < 20; step++) model.evaluate(images, labels);
const usage = process.memoryUsage();
console.log(JSON.stringify({ kernels: model.kernels.description, rssBytes: usage.rss, rssAfterCreateBytes: baseline, heapUsedBytes: usage.heapUsed }));
