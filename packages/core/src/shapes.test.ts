import { describe, expect, it } from 'vitest';
import { windowExtent } from './shapes.js';

describe('windowExtent', () => {
  it('valid: in=28 k=3 s=1 -> 26, no padding', () => {
    expect(windowExtent(28, 3, 1, 'valid')).toEqual({ out: 26, padBefore: 0, padAfter: 0 });
  });
  it('valid: in=24 k=2 s=2 -> 12', () => {
    expect(windowExtent(24, 2, 2, 'valid').out).toBe(12);
  });
  it('valid: in=7 k=3 s=2 -> 3 (last column unused)', () => {
    expect(windowExtent(7, 3, 2, 'valid').out).toBe(3);
  });
  it('same: in=28 k=3 s=1 -> 28, pad 1 and 1', () => {
    expect(windowExtent(28, 3, 1, 'same')).toEqual({ out: 28, padBefore: 1, padAfter: 1 });
  });
  it('same: in=28 k=5 s=2 -> 14, pad 1 before and 2 after (odd pixel after, as TensorFlow)', () => {
    expect(windowExtent(28, 5, 2, 'same')).toEqual({ out: 14, padBefore: 1, padAfter: 2 });
  });
  it('same: in=5 k=1 s=2 -> 3, no padding', () => {
    expect(windowExtent(5, 1, 2, 'same')).toEqual({ out: 3, padBefore: 0, padAfter: 0 });
  });
  it('valid: kernel larger than input gives out < 1', () => {
    expect(windowExtent(2, 3, 1, 'valid').out).toBeLessThan(1);
  });
});
