/**
 * A worker's compute thread: a ComputeEngine of its own (its own kernels instance and
 * model) over the worker's shared datasets. It answers each job with its part's sums;
 * the gradient goes into its shared gradient buffer, the rest in the reply.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { selectKernels } from '@convoy/core';
import { ComputeEngine } from '../compute.js';
import type { FromThread, ThreadSetup, ToThread } from './messages.js';
import { openSharedDataset } from './shared-data.js';

const setup = workerData as ThreadSetup;
const port = parentPort!;
const engine = new ComputeEngine(
  setup.spec,
  setup.paramCount,
  { train: openSharedDataset(setup.data.train), test: openSharedDataset(setup.data.test) },
  selectKernels(setup.kernels),
);
const params = new Float32Array(setup.params);
const gradient = new Float32Array(setup.gradient);
/** The `load` of the parameters the model holds; -1 before the first. */
let loaded = -1;

function answer(job: ToThread): FromThread {
  // The engine's version check, with `load` as the version: it copies the shared parameters only when they changed.
  const fresh = job.load === loaded ? undefined : params;
  loaded = job.load;
  switch (job.kind) {
    case 'step': {
      if (job.step === setup.exitAtStep) process.exit(1);
      const { step, round, epoch, indices, dropoutSeeds } = job;
      const result = engine.step({ type: 'step', step, round, epoch, version: job.load, ...(fresh ? { params: fresh } : {}), indices, dropoutSeeds }, 0);
      gradient.set(result.gradient);
      return { kind: 'stepped', job: job.job, count: result.count, lossSum: result.lossSum, correct: result.correct };
    }
    case 'evaluate': {
      const { round, split, indices } = job;
      const result = engine.evaluate({ type: 'evaluate', round, split, version: job.load, ...(fresh ? { params: fresh } : {}), indices });
      return { kind: 'evaluated', job: job.job, count: result.count, lossSum: result.lossSum, correct: result.correct, predictions: result.predictions };
    }
    default: {
      const unknown: never = job;
      throw new Error(`unknown job ${String((unknown as { kind?: unknown }).kind)}`);
    }
  }
}

port.on('message', (job: ToThread) => {
  let reply: FromThread;
  try {
    reply = answer(job);
  } catch (error) {
    // A failed job leaves the model unknown: reload the parameters on the next one.
    loaded = -1;
    const code = (error as { code?: unknown }).code;
    reply = { kind: 'failed', job: job.job, code: typeof code === 'string' ? code : 'THREAD_FAILED', message: (error as Error).message };
  }
  port.postMessage(reply);
});
