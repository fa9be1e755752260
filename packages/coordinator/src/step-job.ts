/**
 * What one training step sends out: the dropout seeds of its images and the scheduler Job
 * whose slices carry them (trainer.ts runs it). Pure: it reads the model, never changes it.
 */
import { DROPOUT_STREAM, mixSeed } from '@convoy/core';
import type { FullState } from './evaluation.js';
import type { Job } from './scheduler.js';

/** One dropout seed per image of the step, so a mask does not depend on which worker draws it. */
export function dropoutSeedsOf(runSeed: number, step: number, count: number): Uint32Array {
  const seeds = new Uint32Array(count);
  const base = mixSeed(runSeed, DROPOUT_STREAM, step);
  for (let i = 0; i < count; i++) seeds[i] = mixSeed(base, i);
  return seeds;
}

/**
 * The step's job: the parameters of version `step - 1`, slices of the batch's indices and seeds.
 * `epoch` is 1-based (the epoch the step belongs to).
 */
export function stepJob(
  step: number,
  epoch: number,
  params: Float32Array,
  indices: Uint32Array,
  dropoutSeeds: Uint32Array,
  replica: { readonly state: FullState; readonly density: number | undefined } | null = null,
): Job {
  const version = step - 1;
  return {
    kind: 'step',
    length: indices.length,
    step,
    version,
    message: (start, end, round, withParams) => ({
      type: 'step',
      step,
      round,
      epoch,
      version,
      ...(withParams ? { params, ...replica?.state() } : {}),
      indices: indices.subarray(start, end),
      dropoutSeeds: dropoutSeeds.subarray(start, end),
      ...(replica?.density === undefined ? {} : { density: replica.density }),
    }),
  };
}
