import { describe, expect, it } from 'vitest';
import { mixSeed, Rng } from './rng.js';

describe('Rng', () => {
  it('xoshiro128** from a fixed state matches the reference C implementation', () => {
    // Reference values: xoshiro128starstar.c with s = {1, 2, 3, 4}.
    const rng = Rng.fromState([1, 2, 3, 4]);
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([11520, 0, 5927040]);
  });

  it('same seed gives the same sequence; different seeds differ', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const seqA = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(seqA);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(seqA);
  });

  it('state round-trips: a restored generator continues the same sequence', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 5; i++) rng.nextUint32();
    const restored = Rng.fromState(rng.state());
    expect(restored.nextUint32()).toBe(rng.nextUint32());
  });

  it('nextFloat stays in [0, 1) with a mean near 1/2', () => {
    const rng = new Rng(1);
    let sum = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = rng.nextFloat();
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
    }
    expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.01);
  });

  it('permutation holds every index once', () => {
    const p = new Rng(3).permutation(1000);
    expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(p.slice(0, 10))).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('mixSeed depends on every part and on their order', () => {
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1));
    expect(mixSeed(1, 2)).not.toBe(mixSeed(1, 3));
    expect(mixSeed(1, 2)).toBe(mixSeed(1, 2));
  });
  it('fillDropoutMask draws exactly what a nextFloat loop draws, and leaves the same state', () => {
    for (const [seed, rate, length] of [[1, 0.25, 9216], [99, 0.5, 1000], [7, 0, 50], [123456789, 0.999, 300], [5, 0.3, 0]] as const) {
      const keep = 1 / (1 - rate);
      const looped = new Rng(seed);
      const expected = new Float32Array(length + 4).fill(-1);
      for (let i = 0; i < length; i++) expected[2 + i] = looped.nextFloat() < rate ? 0 : keep;
      const filled = new Rng(seed);
      const actual = new Float32Array(length + 4).fill(-1);
      filled.fillDropoutMask(actual, 2, length, rate, keep);
      expect(Array.from(actual)).toEqual(Array.from(expected));
      expect(filled.state()).toEqual(looped.state());
      expect(filled.nextUint32()).toBe(looped.nextUint32());
    }
    // The rate is honoured: about a quarter of 9,216 draws dropped.
    const mask = new Float64Array(9216);
    new Rng(3).fillDropoutMask(mask, 0, mask.length, 0.25, 4 / 3);
    const dropped = mask.filter((value) => value === 0).length / mask.length;
    expect(dropped).toBeGreaterThan(0.23);
    expect(dropped).toBeLessThan(0.27);
  });
});
