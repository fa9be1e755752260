/**
 * A step's messages under --overlap: which slices are lookahead steps, and when the
 * parameters of the version before ride along.
 */
import type { StepMessage } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import type { ReplicaJob } from './replica-updates.js';
import { stepJob } from './step-job.js';

const params = Float32Array.of(1, 2, 3);
const before = Float32Array.of(0.5, 1.5, 2.5);

/** Step `step` sent while the coordinator is at `current`; it holds the parameters of `held` (the version before its last update). */
function message(step: number, current: number, held: number | null, withParams: boolean): StepMessage {
  const replica: ReplicaJob = {
    state: () => ({ state: [], iterations: current }),
    density: undefined,
    previous: (version) => (held !== null && held === version - 1 ? before : null),
  };
  const job = stepJob(step, 1, params, () => current, Uint32Array.of(0, 1), Uint32Array.of(5, 6), replica);
  return job.message(0, 2, 1, withParams) as StepMessage;
}

describe('stepJob under --overlap', () => {
  it('a slice one update behind is a lookahead step; the version before rides only with a full state', () => {
    expect(message(5, 3, 2, false)).toMatchObject({ version: 3, lookahead: true });
    expect(message(5, 3, 2, false).previousParams).toBeUndefined();
    expect(message(5, 3, 2, true)).toMatchObject({ version: 3, lookahead: true, params, previousParams: before });
  });

  it('no lookahead for a slice on current parameters (a step of its own, or one sent again after the update), nor when the version before is not held (after a resume)', () => {
    for (const sent of [message(5, 4, 3, true), message(5, 3, null, true), message(2, 0, null, true)]) {
      expect(sent.lookahead).toBeUndefined();
      expect(sent.previousParams).toBeUndefined();
    }
  });

  it('without replicas (fp32) nothing is extrapolated', () => {
    const job = stepJob(5, 1, params, () => 3, Uint32Array.of(0), Uint32Array.of(5));
    expect((job.message(0, 1, 1, true) as StepMessage).lookahead).toBeUndefined();
  });
});
