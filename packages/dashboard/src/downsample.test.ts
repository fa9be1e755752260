import { describe, expect, it } from 'vitest';
import { BoundedSeries, minMaxDownsample } from './downsample.js';

describe('minMaxDownsample', () => {
  it('bucket=4 on 8 points: each bucket keeps its min and max in step order', () => {
    const { xs, ys } = minMaxDownsample([0, 1, 2, 3, 4, 5, 6, 7], [3, 1, 4, 1, 5, 9, 2, 6], 4);
    // bucket 1: min 1 at x=1 (the first of the two 1s), max 4 at x=2; bucket 2: max 9 at x=5, min 2 at x=6.
    expect(xs).toEqual([1, 2, 5, 6]);
    expect(ys).toEqual([1, 4, 9, 2]);
  });

  it('a flat bucket keeps one point; a short last bucket is kept', () => {
    const { xs, ys } = minMaxDownsample([0, 1, 2, 3, 4], [7, 7, 7, 7, 8], 4);
    expect(xs).toEqual([0, 4]);
    expect(ys).toEqual([7, 8]);
  });

  it('rejects a bucket smaller than 2', () => {
    expect(() => minMaxDownsample([1], [1], 1)).toThrow(/bucketSize/);
  });
});

describe('BoundedSeries', () => {
  it('100,000 pushes: never more than maxPoints, recent points exact, extremes and only real points kept', () => {
    const series = new BoundedSeries({ maxPoints: 2_000, recentPoints: 500 });
    const raw = new Map<number, number>();
    let largest = 0;
    for (let step = 1; step <= 100_000; step++) {
      // A noisy decaying loss with one spike early (step 1234) and one dip (step 56789).
      let value = 2 * Math.exp(-step / 20_000) + 0.1 * Math.sin(step * 0.37) + 0.2;
      if (step === 1234) value = 50;
      if (step === 56_789) value = -3;
      raw.set(step, value);
      series.push(step, value);
      largest = Math.max(largest, series.length);
    }
    expect(largest).toBeLessThan(2_000);
    expect(series.length).toBeGreaterThan(500);
    // Increasing steps, every stored point a real one.
    for (let i = 0; i < series.length; i++) {
      if (i > 0) expect(series.xs[i]!).toBeGreaterThan(series.xs[i - 1]!);
      expect(series.ys[i]).toBe(raw.get(series.xs[i]!));
    }
    // The newest 500 points, exactly.
    expect(series.xs.slice(-500)).toEqual(Array.from({ length: 500 }, (_, i) => 99_501 + i));
    // The spike and the dip survive every compaction.
    expect(series.xs).toContain(1234);
    expect(series.xs).toContain(56_789);
    expect(Math.max(...series.ys)).toBe(50);
    expect(Math.min(...series.ys)).toBe(-3);
  });

  it('ignores a point that is not after the last one (a replayed record)', () => {
    const series = new BoundedSeries({ maxPoints: 100, recentPoints: 10 });
    series.push(1, 1);
    series.push(2, 2);
    series.push(2, 5);
    series.push(1, 9);
    expect(series.xs).toEqual([1, 2]);
    expect(series.ys).toEqual([1, 2]);
  });

  it('rejects impossible options', () => {
    expect(() => new BoundedSeries({ maxPoints: 10, recentPoints: 10 })).toThrow(/recentPoints/);
  });
});
