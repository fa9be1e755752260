/**
 * The peer of `pnpm bench:scale`: a worker's compute with nothing around it. One process
 * runs the worker's own ComputeEngine (gather, then the default model's gradientSum with
 * Dropout on) over slices of `batch` MNIST images, `steps` times after `warmup` calls,
 * and prints its images/s as JSON. bench:scale starts one and then two of these at once,
 * so the training figures can be read against what the machine's cores give that many
 * compute-bound processes in the same minute.
 *
 *   tsx bench/compute-loop.ts --batch 128 --steps 20 --warmup 3 --kernels auto
 */
import { COORDINATOR_DEFAULTS } from '../packages/coordinator/src/index.js';
import { createModel, type KernelsChoice } from '../packages/core/src/index.js';
import { loadMnist, selectNodeKernels } from '../packages/core/src/node.js';
import { ComputeEngine } from '../packages/worker/src/index.js';
import { benchFlags } from './measure.js';

const values = benchFlags({ batch: '128', steps: '20', warmup: '3', kernels: 'auto' });
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);

const data = loadMnist();
const spec = COORDINATOR_DEFAULTS.spec;
const params = createModel(spec, { seed: 1 }).params;
const engine = new ComputeEngine(spec, params.length, data, selectNodeKernels(values.kernels as KernelsChoice));

let measuredMs = 0;
for (let call = 0; call < warmup + steps; call++) {
  // A different slice each call, as a worker gets; the parameters travel once, as to a worker.
  const positions = Array.from({ length: batch }, (_, i) => call * batch + i);
  const answer = engine.step(
    {
      type: 'step',
      step: call + 1,
      round: call + 1,
      epoch: 1,
      version: 0,
      ...(call === 0 ? { params } : {}),
      indices: Uint32Array.from(positions, (position) => position % data.train.count),
      dropoutSeeds: Uint32Array.from(positions, (position) => position + 1),
    },
    0,
  );
  if (call >= warmup) measuredMs += answer.computeMs;
}
process.stdout.write(`${JSON.stringify({ batch, steps, imagesPerSecond: (1000 * batch * steps) / measuredMs })}\n`);
