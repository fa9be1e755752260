// convoy eval's metrics against values computed by hand.
import { describe, expect, it } from 'vitest';
import { argmaxRow } from '@convoy/core';
import { ClassificationAccumulator, formatReport } from './metrics.js';

describe('ClassificationAccumulator', () => {
  // 3 classes, 4 images in two batches:
  //   image 0 label 0 p=[.7 .2 .1] -> 0 right   image 1 label 1 p=[.1 .3 .6] -> 2 wrong
  //   image 2 label 2 p=[.2 .2 .6] -> 2 right   image 3 label 1 p=[.5 .4 .1] -> 0 wrong
  const accumulator = new ClassificationAccumulator(3);
  accumulator.add(Float32Array.from([0.7, 0.2, 0.1, 0.1, 0.3, 0.6]), Uint8Array.from([0, 1]));
  accumulator.add(Float32Array.from([0.2, 0.2, 0.6, 0.5, 0.4, 0.1]), Uint8Array.from([2, 1]));
  const report = accumulator.report();

  it('loss is the mean of -ln p[label], accuracy the fraction right', () => {
    const p = [0.7, 0.3, 0.6, 0.4].map((value) => Math.fround(value));
    expect(report.loss).toBeCloseTo(-p.reduce((sum, value) => sum + Math.log(value), 0) / 4, 12);
    expect(report.accuracy).toBe(0.5);
    expect(report.count).toBe(4);
  });

  it('confusion rows are true classes, columns predicted classes', () => {
    expect(Array.from(report.confusion)).toEqual([1, 0, 0, 1, 0, 1, 0, 0, 1]);
    expect(Array.from(report.support)).toEqual([1, 2, 1]);
  });

  it('precision = right / predicted (NaN when never predicted), recall = right / actual', () => {
    expect(Array.from(report.precision)).toEqual([0.5, Number.NaN, 0.5]);
    expect(Array.from(report.recall)).toEqual([1, 0, 1]);
  });

  it('prints NaN as "-" and a 3x3 matrix', () => {
    const text = formatReport(report);
    expect(text).toContain('accuracy  50.00%');
    expect(text).toMatch(/\n\s+1\s+-\s+0\.00%\s+2\n/);
    expect(text).toMatch(/\n\s+1\s+1\s+0\s+1$/m);
  });

  it('argmax takes the first of equal values', () => {
    expect(argmaxRow(Float32Array.from([0.1, 0.45, 0.45]), 0, 3)).toBe(1);
  });
});
