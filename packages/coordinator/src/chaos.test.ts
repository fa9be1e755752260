/**
 * The coordinator's --chaos parser: worker parts go to the local workers, kill:coordinator
 * stays, and a one-line error names the bad part.
 */
import { describe, expect, it } from 'vitest';
import { parseChaosPlan } from './chaos.js';

describe('coordinator --chaos plans', () => {
  it('coordinator: worker parts go to that local worker, kill:coordinator stays', () => {
    expect(parseChaosPlan('kill:worker1@step20,pause:worker2@step40:5s,exit:worker1@step30,kill:coordinator@step8', 3)).toEqual({
      killCoordinatorAtStep: 8,
      workers: ['kill@step20,exit@step30', 'pause@step40:5s', ''],
    });
    expect(() => parseChaosPlan('kill:worker4@step2', 3)).toThrow(/there are 3 local workers \(worker1\.\.worker3\)/);
    expect(() => parseChaosPlan('pause:coordinator@step2:1s', 1)).toThrow(/the coordinator knows only kill:coordinator@stepN/);
    expect(() => parseChaosPlan('kill-worker1', 1)).toThrow(/is not ACTION:TARGET@stepN/);
  });
});
