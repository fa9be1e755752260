import { describe, expect, it } from 'vitest';
import { proportionalSlices } from './slices.js';

const sizes = (start: number, end: number, rates: number[]) => proportionalSlices(start, end, rates).map((slice) => slice.end - slice.start);

describe('proportionalSlices', () => {
  it('cuts equal slices while nothing is measured, remainder to the first workers', () => {
    expect(sizes(0, 10, [0, 0, 0])).toEqual([4, 3, 3]);
    expect(proportionalSlices(0, 10, [0, 0, 0])).toEqual([
      { start: 0, end: 4, worker: 0 },
      { start: 4, end: 7, worker: 1 },
      { start: 7, end: 10, worker: 2 },
    ]);
  });

  it('sizes slices by throughput, contiguous and covering the range exactly', () => {
    // 3:1 of 64 images is 48 and 16.
    expect(proportionalSlices(100, 164, [300, 100])).toEqual([
      { start: 100, end: 148, worker: 0 },
      { start: 148, end: 164, worker: 1 },
    ]);
    // 1:2:4 of 10 = 1.43, 2.86, 5.71 -> floors 1, 2, 5 and the leftover image to the largest fraction (2.86).
    expect(sizes(0, 10, [1, 2, 4])).toEqual([1, 3, 6]);
  });

  it('counts an unmeasured worker as the mean of the measured ones', () => {
    expect(sizes(0, 90, [100, 0, 200])).toEqual([20, 30, 40].map((x) => x)); // weights 100, 150, 200 of 450
  });

  it('omits empty shares: fewer images than workers', () => {
    expect(proportionalSlices(5, 7, [1, 1, 1])).toEqual([
      { start: 5, end: 6, worker: 0 },
      { start: 6, end: 7, worker: 1 },
    ]);
    expect(proportionalSlices(0, 0, [1])).toEqual([]);
    expect(proportionalSlices(0, 5, [])).toEqual([]);
  });
});
