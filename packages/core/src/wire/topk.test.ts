/**
 * TopKAccumulator (the worker's residual add and top-k select, with its floor) against an
 * independent answer: the residual added up with Math.fround and a full sort of its
 * magnitudes, step after step, on both kernels (WebAssembly and TypeScript), on inputs
 * that make the floor both work and fail.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { TopKAccumulator } from './topk.js';
import { createTopKArrays } from './topk-kernel.js';

const LENGTH = 5_003; // not a multiple of 4: the WebAssembly pass's scalar tail runs too

/** The indices of the k largest nonzero |values|, lower indices first among ties, ascending. */
function bySort(values: Float32Array, k: number): number[] {
  return [...values.keys()]
    .filter((i) => values[i] !== 0)
    .sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!) || a - b)
    .slice(0, k)
    .sort((a, b) => a - b);
}

type Draw = (rng: Rng, i: number, step: number) => number;
const DRAWS: Record<string, Draw> = {
  // Heavy tails, and every third step 100 times smaller: the k-th magnitude falls below the floor.
  'heavy-tailed, some steps small': (rng, i, step) => (i % 7 === 0 ? 0 : (rng.nextFloat() - 0.5) * Math.exp(6 * rng.nextFloat()) * (step % 3 === 2 ? 0.01 : 1)),
  'tied (few distinct magnitudes)': (rng) => (Math.floor(rng.nextFloat() * 7) - 3) * 0.5,
  'all equal': () => 0.25,
  'mostly zeros': (rng) => (rng.nextFloat() < 0.98 ? 0 : rng.nextFloat() - 0.5),
  'subnormals and zeros': (rng) => (rng.nextFloat() < 0.2 ? 0 : (rng.nextFloat() - 0.5) * 2 ** -130),
  'negative only': (rng) => -rng.nextFloat() * 3,
};
/** k per step: steady, then falling (the warm-up), then rising (the floor then lets too few through). */
const KS = [50, 50, 50, 40, 25, 15, 15, 15, 100, 500, 15, 1];

describe.each(['wasm', 'js'] as const)('TopKAccumulator (%s kernel)', (kind) => {
  it('the kernel asked for is the one running', () => {
    expect(createTopKArrays(8, kind).kind).toBe(kind);
  });

  it.each(Object.keys(DRAWS))('%s: each step, residual = float32(residual + gradient) and the indices of its k largest magnitudes (against a full sort)', (name) => {
    const draw = DRAWS[name]!;
    const rng = new Rng(name.length);
    const accumulator = new TopKAccumulator(createTopKArrays(LENGTH, kind));
    const { residual, indices } = accumulator.arrays;
    const expected = new Float32Array(LENGTH);
    for (const [step, k] of KS.entries()) {
      const gradient = Float32Array.from({ length: LENGTH }, (_, i) => draw(rng, i, step));
      for (let i = 0; i < LENGTH; i++) expected[i] = expected[i]! + gradient[i]!;
      const count = accumulator.addAndSelect(gradient, k);
      expect(residual).toEqual(expected);
      const wanted = bySort(expected, k);
      expect(count).toBe(wanted.length);
      expect([...indices.subarray(0, count)]).toEqual(wanted);
      // As the upload does: what is sent leaves the residual (here all of it, an exact zero).
      for (const index of wanted) residual[index] = expected[index] = 0;
    }
  });

  it('the floor saves the full select on every step of a steady run; a k that grows past the candidates falls back to it', () => {
    const rng = new Rng(5);
    const accumulator = new TopKAccumulator(createTopKArrays(LENGTH, kind));
    const draw = DRAWS['heavy-tailed, some steps small']!;
    const step = (index: number, k: number): void => {
      const count = accumulator.addAndSelect(Float32Array.from({ length: LENGTH }, (_, i) => draw(rng, i, index)), k);
      for (const sent of accumulator.arrays.indices.subarray(0, count)) accumulator.arrays.residual[sent] = 0;
    };
    // The first step has no floor yet (the full select, not a fallback).
    for (let index = 0; index < 9; index++) step(index, 50);
    expect(accumulator.fallbacks).toBe(0);
    step(9, 300);
    expect(accumulator.fallbacks).toBe(1);
  });
});

describe('TopKArrays.accumulate: the WebAssembly and TypeScript passes agree bit for bit (residual, candidates, their magnitudes)', () => {
  it.each([
    ['no floor (only adds)', Infinity],
    ['a floor', 0.5],
    ['a subnormal floor', 2 ** -140],
  ])('%s', (_name, floor) => {
    const rng = new Rng(9);
    const [wasm, js] = [createTopKArrays(LENGTH, 'wasm'), createTopKArrays(LENGTH, 'js')];
    const start = Float32Array.from({ length: LENGTH }, (_, i) => (i % 5 === 0 ? 0 : (rng.nextFloat() - 0.5) * 2 ** (rng.nextFloat() * 20 - 150)));
    // Entries that cancel to +0 and -0, and a NaN (a candidate under any floor: its bits rank above every number).
    start[7] = 1.5;
    start[11] = -0.75;
    start[13] = Number.NaN;
    const gradient = Float32Array.from({ length: LENGTH }, () => rng.nextFloat() - 0.5);
    gradient[7] = -1.5;
    gradient[11] = 0.75;
    wasm.residual.set(start);
    js.residual.set(start);
    const counts = [wasm.accumulate(gradient, floor), js.accumulate(gradient, floor)];
    expect(new Uint32Array(wasm.residual.slice().buffer)).toEqual(new Uint32Array(js.residual.slice().buffer));
    expect(counts[0]).toBe(counts[1]);
    expect([...wasm.indices.subarray(0, counts[0])]).toEqual([...js.indices.subarray(0, counts[1])]);
    // Each candidate's magnitude bits beside its index: the float's bits with the sign cleared.
    const residualBits = new Uint32Array(js.residual.slice().buffer);
    const magnitudes = [...js.indices.subarray(0, counts[1])].map((i) => (residualBits[i]! & 0x7fffffff) >>> 0);
    expect([...js.magnitudes.subarray(0, counts[1])]).toEqual(magnitudes);
    expect([...wasm.magnitudes.subarray(0, counts[0])]).toEqual(magnitudes);
    const expected = [...js.residual.keys()].filter((i) => !(Math.abs(js.residual[i]!) < floor));
    expect([...js.indices.subarray(0, counts[1])]).toEqual(floor === Infinity ? [] : expected);
    if (floor !== Infinity) expect(expected).toContain(13);
  });
});
