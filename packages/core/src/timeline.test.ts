import { describe, expect, it } from 'vitest';
import type { TimingRecord, WorkerPhases } from './protocol/messages.js';
import { coordinatorSegments, stragglerScores, workerSegments } from './timeline.js';

const phases = (previousEncodeMs: number, previousSendMs: number): WorkerPhases => ({ previousEncodeMs, previousSendMs, waitMs: 0, cpuPercent: 90, rssBytes: 1 });

/** A step of 100 ms: worker 1 sent at 1 ms, back at 41 ms; worker 2 sent at 2 ms, back at 95 ms. */
const step: TimingRecord = {
  kind: 'timing', step: 5, startTime: 1000, stepMs: 100, waitMs: 95, sumMs: 1, optimizerMs: 3, publishMs: 1,
  workers: [
    { workerId: 1, images: 60, sentMs: 1, arrivedMs: 41, decodeMs: 2, computeMs: 30, phases: phases(9, 9) },
    { workerId: 2, images: 4, sentMs: 2, arrivedMs: 95, decodeMs: 1, computeMs: 80, phases: null },
  ],
};
const next: TimingRecord = { ...step, step: 6, workers: [{ ...step.workers[0]!, phases: phases(1, 3) }] };

const rows = (segments: readonly { name: string; startMs: number; durationMs: number }[]) => segments.map(({ name, startMs, durationMs }) => [name, startMs, durationMs]);

describe('timeline', () => {
  it('the coordinator: wait 95, sum 1, optimizer 3, publish 1, back to back', () => {
    expect(rows(coordinatorSegments(step))).toEqual([['wait for answers', 0, 95], ['sum', 95, 1], ['optimizer', 96, 3], ['publish', 99, 1]]);
  });

  it('worker 1 with the next step reporting encode 1, send 3: transfer (40-2-30-1-3)=4 split 2/2, wait to the end', () => {
    expect(rows(workerSegments(step, 1, next))).toEqual([
      ['idle', 0, 1], ['to worker', 1, 2], ['decode', 3, 2], ['compute', 5, 30], ['encode', 35, 1], ['send', 36, 3], ['to coordinator', 39, 2], ['wait', 41, 59],
    ]);
  });

  it('a send reported longer than the round trip leaves is cut to what the arrival allows', () => {
    const late = { ...next, workers: [{ ...step.workers[0]!, phases: phases(1, 50) }] };
    const segments = workerSegments(step, 1, late);
    expect(segments.find((segment) => segment.name === 'send')!.durationMs).toBe(40 - 2 - 30 - 1);
    expect(segments.reduce((sum, segment) => sum + segment.durationMs, 0)).toBe(100);
  });

  it('worker 2 without a next step: encode and send unknown (0), the rest transfer', () => {
    expect(rows(workerSegments(step, 2, null))).toEqual([
      ['idle', 0, 2], ['to worker', 2, 6], ['decode', 8, 1], ['compute', 9, 80], ['encode', 89, 0], ['send', 89, 0], ['to coordinator', 89, 6], ['wait', 95, 5],
    ]);
  });

  it('straggler scores: mean step time against the fastest (worker 1: 40 ms, worker 2: (93+73)/2 = 83 ms)', () => {
    const other: TimingRecord = { ...step, workers: [{ ...step.workers[0]!, sentMs: 0, arrivedMs: 40 }, { ...step.workers[1]!, sentMs: 2, arrivedMs: 75 }] };
    const scores = stragglerScores([step, other]);
    expect(scores.map((score) => score.workerId)).toEqual([1, 2]);
    expect(scores[0]!.score).toBe(1);
    expect(scores[1]!.meanStepMs).toBeCloseTo(83, 12);
    expect(scores[1]!.score).toBeCloseTo(83 / 40, 12);
  });
});
