/**
 * What one training step sends out: the dropout seeds of its images and the scheduler Job
 * whose slices carry them (trainer.ts runs it). Pure: it reads the model, never changes it.
 */
import { DROPOUT_STREAM, mixSeed } from '@convoy/core';
import type { ReplicaJob } from './replica-updates.js';
import type { Job } from './scheduler.js';

/** One dropout seed per image of the step, so a mask does not depend on which worker draws it. */
export function dropoutSeedsOf(runSeed: number, step: number, count: number): Uint32Array {
  const seeds = new Uint32Array(count);
  const base = mixSeed(runSeed, DROPOUT_STREAM, step);
  for (let i = 0; i < count; i++) seeds[i] = mixSeed(base, i);
  return seeds;
}

/**
 * The step's job: slices of the batch's indices and seeds, computed with the parameters as they
 * are when a slice is sent (`params`, of version `version()`): version `step - 1` for a step run
 * on its own, `step - 2` for one run ahead (--overlap) until the update before it lands.
 * `epoch` is 1-based (the epoch the step belongs to).
 * NOTE: `previousParams` rides with a full state only: a replica keeps its own otherwise.
 */
export function stepJob(
  step: number,
  epoch: number,
  params: Float32Array,
  version: () => number,
  indices: Uint32Array,
  dropoutSeeds: Uint32Array,
  replica: ReplicaJob | null = null,
): Job {
  return {
    kind: 'step',
    length: indices.length,
    step,
    get version() {
      return version();
    },
    message: (start, end, round, withParams) => {
      const now = version();
      // One update behind (sent ahead, and the update before it has not landed): a replica
      // computes with the parameters extrapolated one update ahead (core's wire/lookahead.ts),
      // when the coordinator holds those of the version before (not right after a resume).
      const previous = now === step - 2 ? (replica?.previous?.(now) ?? null) : null;
      const lookahead = previous !== null;
      return {
        type: 'step',
        step,
        round,
        epoch,
        version: now,
        ...(withParams ? { params, ...replica?.state() } : {}),
        indices: indices.subarray(start, end),
        dropoutSeeds: dropoutSeeds.subarray(start, end),
        ...(replica?.density === undefined ? {} : { density: replica.density }),
        ...(lookahead ? { lookahead: true, ...(withParams ? { previousParams: previous } : {}) } : {}),
      };
    },
  };
}
