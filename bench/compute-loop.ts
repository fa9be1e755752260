/**
 * The peer of `pnpm bench:scale`: a worker's compute with nothing around it. One process
 * runs the default model's gradientSum (training mode, Dropout on) over `batch` MNIST
 * images `steps` times after `warmup` calls, and prints its images/s as JSON. bench:scale
 * starts one and then two of these at once, so the training figures can be read against
 * what the machine's cores give two compute-bound processes in the same hour.
 *
 *   tsx bench/compute-loop.ts --batch 128 --steps 20 --warmup 3 --kernels auto
 */
import { COORDINATOR_DEFAULTS } from '../packages/coordinator/src/defaults.js';
import { createModel, gatherImages, loadMnist, selectKernels, type KernelsChoice } from '../packages/core/src/index.js';
import { benchFlags } from './measure.js';

const values = benchFlags({ batch: '128', steps: '20', warmup: '3', kernels: 'auto' });
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);

const { train } = loadMnist();
const model = createModel(COORDINATOR_DEFAULTS.spec, { seed: 1, kernels: selectKernels(values.kernels as KernelsChoice) });
const images = new Float32Array(batch * train.height * train.width * train.channels);
const labels = new Uint8Array(batch);
const dropoutSeeds = new Uint32Array(batch);

let measuredMs = 0;
for (let call = 0; call < warmup + steps; call++) {
  // A different slice each call, as a worker gets.
  const indices = Uint32Array.from({ length: batch }, (_, i) => (call * batch + i) % train.count);
  gatherImages(train, indices, images);
  for (let n = 0; n < batch; n++) labels[n] = train.labels[indices[n]!]!;
  dropoutSeeds.forEach((_, n) => (dropoutSeeds[n] = call * batch + n + 1));
  const started = performance.now();
  model.gradientSum(images, labels, { training: true, dropoutSeeds });
  if (call >= warmup) measuredMs += performance.now() - started;
}
process.stdout.write(`${JSON.stringify({ batch, steps, imagesPerSecond: (1000 * batch * steps) / measuredMs })}\n`);
