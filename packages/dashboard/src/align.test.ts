import { describe, expect, it } from 'vitest';
import { alignColumns } from './align.js';

describe('alignColumns', () => {
  it('puts per-step, per-epoch and single points on the union of their steps, null elsewhere', () => {
    const aligned = alignColumns([
      { xs: [1, 2, 4], ys: [0.9, 0.8, 0.5] },
      { xs: [3, 4], ys: [0.7, 0.6] },
      { xs: [], ys: [] },
    ]);
    expect(aligned).toEqual([
      [1, 2, 3, 4],
      [0.9, 0.8, null, 0.5],
      [null, null, 0.7, 0.6],
      [null, null, null, null],
    ]);
  });
});
