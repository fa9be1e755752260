import type { GradientMessage } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import { sumInSliceOrder } from './gradient-sum.js';
import type { Piece } from './scheduler.js';

function piece(start: number, count: number, values: number[], workerId = 1): Piece {
  const answer: GradientMessage = {
    type: 'gradient', step: 1, round: start + 1, count, lossSum: count / 2, correct: count - 1,
    gradient: Float32Array.from(values), computeMs: 1, decodeMs: 0,
  };
  return { start, end: start + count, workerId, answer, roundTripMs: 1, sentAt: 0, arrivedAt: 1, scale: 0 };
}

describe('sumInSliceOrder', () => {
  it('adds in the order given, which float32 tells apart from any other (1e8 + 1 - 1e8)', () => {
    const pieces = [piece(0, 2, [1e8, 1]), piece(2, 3, [1, 1e8]), piece(5, 1, [-1e8, -1e8])];
    const into = new Float32Array([7, 7]); // overwritten, not added to
    const totals = sumInSliceOrder(pieces, into, 1);
    // Independent answer: float32 rounding after each addition, in slice order.
    const values = [[1e8, 1], [1, 1e8], [-1e8, -1e8]] as const;
    const expected = [0, 1].map((j) => Math.fround(Math.fround(values[0][j]! + values[1][j]!) + values[2][j]!));
    expect(Array.from(into)).toEqual(expected);
    expect(Array.from(into)).toEqual([0, 0]); // 1e8 + 1 rounds to 1e8 in float32
    expect(totals).toEqual({ count: 6, lossSum: 3, correct: 3, workers: 1 });
  });

  it('counts distinct workers and the answers\' own image counts', () => {
    const totals = sumInSliceOrder([piece(0, 4, [1], 1), piece(4, 4, [2], 2), piece(8, 4, [3], 1)], new Float32Array(1), 1);
    expect(totals.count).toBe(12);
    expect(totals.workers).toBe(2);
  });

  it('refuses pieces that do not tile the batch (a slice lost or summed twice)', () => {
    expect(() => sumInSliceOrder([piece(0, 4, [1]), piece(0, 4, [1])], new Float32Array(1), 3)).toThrow(/step 3: slices do not tile the batch/);
    expect(() => sumInSliceOrder([piece(0, 4, [1]), piece(5, 4, [1])], new Float32Array(1), 3)).toThrow(/starts at 5, expected 4/);
    expect(() => sumInSliceOrder([piece(0, 4, [1, 2])], new Float32Array(1), 3)).toThrow(/gradient of 2 values/);
  });
});
