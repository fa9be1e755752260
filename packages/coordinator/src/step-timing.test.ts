import type { GradientMessage } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import type { Piece } from './scheduler.js';
import { StepTimer, type StepTiming } from './step-timing.js';

function piece(workerId: number, computeMs: number, decodeMs: number): Piece {
  const answer: GradientMessage = { type: 'gradient', step: 4, round: workerId, count: 2, lossSum: 1, correct: 1, gradient: new Float32Array(1), computeMs, decodeMs };
  return { start: 2 * (workerId - 1), end: 2 * workerId, workerId, version: 3, answer, roundTripMs: computeMs + 1, sentAt: 100, arrivedAt: 101 + computeMs, scale: 0 };
}

describe('StepTimer', () => {
  it('splits a step from its report and the transport counters diffed around it', () => {
    let counters = { encodeMs: 10, decodeMs: 20, bytesOut: 1_000, bytesIn: 2_000 };
    const timer = new StepTimer(() => counters);
    const timings: StepTiming[] = [];
    timer.on('timing', (timing) => timings.push(timing));
    timer.stepStarted();
    counters = { encodeMs: 13, decodeMs: 21.5, bytesOut: 5_000, bytesIn: 2_600 };
    timer.stepFinished({ step: 4, images: 6, pieces: [piece(1, 30, 2), piece(2, 50, 4), piece(3, 10, 0)], startedAt: 100, gatheredAt: 160, summedAt: 162, appliedAt: 165, publishedAt: 166 });
    expect(timings).toEqual([{
      step: 4, images: 6, workers: 3, stepMs: 65, computeMs: 50, meanComputeMs: 30, workerDecodeMs: 2,
      encodeMs: 3, decodeMs: 1.5, sumMs: 2, optimizerMs: 3, bytesOut: 4_000, bytesIn: 600,
    }]);
  });
});
