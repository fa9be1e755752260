/**
 * A worker's compute thread: its own kernels instance, selected as soon as it starts, and
 * a ComputeEngine of its own (own model) over the worker's shared datasets once a `model`
 * job names the model. It answers each job with its part's sums; the gradient goes into
 * its shared gradient buffer, the rest in the reply.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Kernels } from '@convoy/core';
import { selectNodeKernels } from '@convoy/core/node';
import { ComputeEngine } from '../compute.js';
import type { FromThread, ThreadSetup, ToThread } from './messages.js';
import { openSharedDataset } from './shared-data.js';

const setup = workerData as ThreadSetup;
const port = parentPort!;
/** The kernels selected at start, for the first model; a later model gets fresh ones (a backend's arrays are its own). */
let kernels: Kernels | null = selectNodeKernels(setup.kernels);
let engine: ComputeEngine | null = null;
let params: Float32Array = new Float32Array(0);
let gradient: Float32Array = new Float32Array(0);
/** The `load` of the parameters the model holds; -1 before the first. */
let loaded = -1;

function requireEngine(): ComputeEngine {
  if (engine === null) throw new Error('work before the model');
  return engine;
}

function answer(job: ToThread): FromThread {
  switch (job.kind) {
    case 'model': {
      engine = new ComputeEngine(job.spec, job.paramCount, { train: openSharedDataset(job.data.train), test: openSharedDataset(job.data.test) }, kernels ?? selectNodeKernels(setup.kernels));
      kernels = null;
      params = new Float32Array(job.params);
      gradient = new Float32Array(job.gradient);
      loaded = -1;
      return { kind: 'modelled', job: job.job };
    }
    case 'step': {
      if (job.step === setup.exitAtStep) process.exit(1);
      const { step, round, epoch, indices, dropoutSeeds } = job;
      // The engine's version check, with `load` as the version: it copies the shared parameters only when they changed.
      const fresh = job.load === loaded ? {} : { params };
      loaded = job.load;
      const result = requireEngine().step({ type: 'step', step, round, epoch, version: job.load, ...fresh, indices, dropoutSeeds }, 0);
      gradient.set(result.gradient);
      return { kind: 'stepped', job: job.job, count: result.count, lossSum: result.lossSum, correct: result.correct };
    }
    case 'evaluate': {
      const { round, split, indices } = job;
      const fresh = job.load === loaded ? {} : { params };
      loaded = job.load;
      const result = requireEngine().evaluate({ type: 'evaluate', round, split, version: job.load, ...fresh, indices });
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
port.postMessage({ kind: 'started', job: 0 } satisfies FromThread);
