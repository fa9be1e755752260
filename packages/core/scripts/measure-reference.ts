/**
 * Training throughput of the TypeScript reference path: forward + backward of the default
 * model (MNIST_CNN) on batches of 32 random images, float32 reference kernels, one thread.
 *   pnpm exec tsx packages/core/scripts/measure-reference.ts [batches] [batchSize]
 */
import { createReferenceKernels } from '../src/kernels/reference.js';
import { createModel } from '../src/model.js';
import { Rng } from '../src/rng.js';
import { MNIST_CNN } from '../src/spec.js';

const batches = Number(process.argv[2] ?? 5);
const batchSize = Number(process.argv[3] ?? 32);
const model = createModel(MNIST_CNN, { kernels: createReferenceKernels(), seed: 0 });
const rng = new Rng(1);
const images = Float32Array.from({ length: batchSize * 784 }, () => rng.nextFloat());
const labels = Uint8Array.from({ length: batchSize }, () => rng.nextInt(10));

model.lossAndGradient(images, labels); // warm-up: lets V8 optimise the kernels
const times: number[] = [];
const cpuStart = process.cpuUsage();
for (let b = 0; b < batches; b++) {
  const start = performance.now();
  model.lossAndGradient(images, labels);
  times.push(performance.now() - start);
}
// NOTE: on a shared machine wall time includes waiting for a core; CPU time does not.
const cpu = process.cpuUsage(cpuStart);
const cpuMsPerBatch = (cpu.user + cpu.system) / 1000 / batches;
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
console.log(
  `reference (ts, float32), MNIST_CNN, batch ${batchSize}, forward+backward, ${batches} batches: ` +
    `median ${median.toFixed(0)} ms/batch = ${((batchSize * 1000) / median).toFixed(1)} images/s wall ` +
    `(best ${((batchSize * 1000) / times[0]!).toFixed(1)}); ${((batchSize * 1000) / cpuMsPerBatch).toFixed(1)} images per CPU-second`,
);
