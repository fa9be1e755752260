import { describe, expect, it } from 'vitest';
import { emaSmooth } from './smoothing.js';

/** The definition, summed directly: a weighted mean with weight smoothing^(t - k) on the value at step k. */
function bruteForce(values: readonly number[], smoothing: number): number[] {
  return values.map((_, t) => {
    let numerator = 0;
    let denominator = 0;
    for (let k = 0; k <= t; k++) {
      const weight = (1 - smoothing) * smoothing ** (t - k);
      numerator += weight * values[k]!;
      denominator += weight;
    }
    return numerator / denominator;
  });
}

describe('emaSmooth', () => {
  it('smoothing=0 returns the raw values', () => {
    expect(Array.from(emaSmooth([1, 2, 3], [5, -1, 7], 0))).toEqual([5, -1, 7]);
  });

  it('values=[1,3,2] smoothing=0.5: hand-computed debiased averages', () => {
    // 1; (0.25*1 + 0.5*3)/0.75; (0.125*1 + 0.25*3 + 0.5*2)/0.875
    const smoothed = emaSmooth([1, 2, 3], [1, 3, 2], 0.5);
    expect(smoothed[0]).toBeCloseTo(1, 12);
    expect(smoothed[1]).toBeCloseTo(1.75 / 0.75, 12);
    expect(smoothed[2]).toBeCloseTo(1.875 / 0.875, 12);
  });

  it('equals the weighted mean of its definition on 500 random steps (smoothing 0.9 and 0.99)', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const values = Array.from({ length: 500 }, () => 2 * random());
    const steps = values.map((_, i) => i + 1);
    for (const smoothing of [0.9, 0.99]) {
      const expected = bruteForce(values, smoothing);
      const smoothed = emaSmooth(steps, values, smoothing);
      expected.forEach((value, i) => expect(smoothed[i]).toBeCloseTo(value, 10));
    }
  });

  it('a point after a gap of g steps counts as g steps of its value (downsampled series)', () => {
    const full = emaSmooth([1, 2, 3, 4, 5, 6], [4, 4, 4, 1, 1, 2], 0.8);
    const sparse = emaSmooth([1, 3, 5, 6], [4, 4, 1, 2], 0.8);
    expect(sparse[1]).toBeCloseTo(full[2]!, 12);
    expect(sparse[2]).toBeCloseTo(full[4]!, 12);
    expect(sparse[3]).toBeCloseTo(full[5]!, 12);
  });

  it('rejects smoothing outside [0, 1) and mismatched lengths', () => {
    expect(() => emaSmooth([1], [1], 1)).toThrow(/smoothing/);
    expect(() => emaSmooth([1], [1], -0.1)).toThrow(/smoothing/);
    expect(() => emaSmooth([1, 2], [1], 0.5)).toThrow(/length/);
  });
});
