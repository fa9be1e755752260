import { describe, expect, it } from 'vitest';
import { OUTLIER_RATIO, RecentScales, SLOW_SLACK_MS, gradientOutliers, gradientScale, lowerMedian, slowAnswers } from './answer-checks.js';

describe('answer checks', () => {
  it('gradientScale is the norm over sqrt(images), in float64 (1e30 values do not overflow)', () => {
    expect(gradientScale(Float32Array.from([3, 4]), 4)).toBeCloseTo(2.5, 12); // 5 / sqrt(4)
    expect(gradientScale(new Float32Array(3).fill(1e30), 1) / (Math.sqrt(3) * Math.fround(1e30))).toBeCloseTo(1, 12);
    expect(gradientScale(new Float32Array(2), 0)).toBe(0);
  });

  it('lowerMedian takes the smaller middle value: one liar beside one honest worker cannot move it', () => {
    expect(lowerMedian([5, 1, 3])).toBe(3);
    expect(lowerMedian([1e30, 2])).toBe(2);
    expect(lowerMedian([4, 3, 2, 1])).toBe(2);
    expect(lowerMedian([])).toBeNaN();
  });

  it('gradientOutliers refuses a slice over OUTLIER_RATIO x the reference, nothing when there is nothing to compare', () => {
    expect(gradientOutliers([2, 1e30], Number.NaN)).toEqual({ outliers: [1], reference: 2 });
    expect(gradientOutliers([2, 2 * OUTLIER_RATIO], Number.NaN).outliers).toEqual([]);
    expect(gradientOutliers([2, 2 * OUTLIER_RATIO + 1], Number.NaN).outliers).toEqual([1]);
    // One slice: only the recent steps can tell.
    expect(gradientOutliers([1e30], Number.NaN).outliers).toEqual([]);
    expect(gradientOutliers([1e30], 3).outliers).toEqual([0]);
    expect(gradientOutliers([0, 0], Number.NaN).outliers).toEqual([]);
  });

  it('slowAnswers: over 4x the lower median plus the slack', () => {
    expect(slowAnswers([20, 400])).toEqual([1]);
    expect(slowAnswers([20, 4 * 20 + SLOW_SLACK_MS])).toEqual([]);
    expect(slowAnswers([5000])).toEqual([]);
    expect(slowAnswers([100, 120, 110, 2000])).toEqual([3]);
  });

  it('RecentScales keeps the lower median of the last values', () => {
    const recent = new RecentScales(3);
    expect(recent.reference).toBeNaN();
    for (const value of [100, 1, 2, 3]) recent.push(value);
    expect(recent.reference).toBe(2);
  });
});
