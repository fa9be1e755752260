import { describe, expect, it } from 'vitest';
import { contiguousParts, sumInOrder } from './parts.js';

describe('contiguousParts', () => {
  it.each([
    [10, 2, [[0, 5], [5, 10]]],
    [11, 3, [[0, 4], [4, 8], [8, 11]]],
    [3, 8, [[0, 1], [1, 2], [2, 3]]],
    [7, 1, [[0, 7]]],
    [0, 4, []],
  ])('count=%i parts=%i', (count, parts, expected) => {
    expect(contiguousParts(count, parts).map(({ start, end }) => [start, end])).toEqual(expected);
  });

  it('refuses a count or part number that is not a whole number', () => {
    expect(() => contiguousParts(-1, 2)).toThrow(RangeError);
    expect(() => contiguousParts(4, 0)).toThrow(RangeError);
    expect(() => contiguousParts(4, 1.5)).toThrow(RangeError);
  });
});

describe('sumInOrder', () => {
  it('adds left to right with float32 rounding after each term, whatever the terms hold', () => {
    // 1 + 2^-24 rounds back to 1 in float32; adding 2^-24 twice afterwards stays 1, while (2^-24 + 2^-24) + 1 would not.
    const tiny = 2 ** -24;
    const target = new Float32Array(1);
    sumInOrder(target, [Float32Array.of(1), Float32Array.of(tiny), Float32Array.of(tiny)]);
    expect(target[0]).toBe(1);
    sumInOrder(target, [Float32Array.of(tiny), Float32Array.of(tiny), Float32Array.of(1)]);
    expect(target[0]).toBe(Math.fround(1 + 2 * tiny));
  });

  it('writes zeros for no terms and refuses terms of another length', () => {
    expect([...sumInOrder(Float32Array.of(5, 6), [])]).toEqual([0, 0]);
    expect(() => sumInOrder(new Float32Array(2), [new Float32Array(3)])).toThrow(RangeError);
  });
});
