import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { decodePacked } from './packed.js';
import { selectTopK } from './topk.js';
import { UploadEncoder } from './upload.js';

function decoded(bytes: Uint8Array, paramCount: number): Float32Array {
  const into = new Float32Array(paramCount);
  decodePacked(bytes, into, 'test');
  return into;
}

describe('selectTopK', () => {
  it.each([
    [100_000, 500],
    [100_000, 25_000],
    [3_000, 2_999],
    [50, 50],
  ])('n=%i k=%i: the indices of the k largest magnitudes, ascending (against a full sort)', (n, k) => {
    const rng = new Rng(n + k);
    // Heavy tails like a gradient's, and some exact zeros (never selected).
    const values = Float32Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 0 : (rng.nextFloat() - 0.5) * Math.exp(6 * rng.nextFloat())));
    const out = new Uint32Array(n);
    const written = selectTopK(values, k, out);
    const nonzero = [...values.keys()].filter((i) => values[i] !== 0);
    const expected = nonzero
      .sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!) || a - b)
      .slice(0, k)
      .sort((a, b) => a - b);
    expect(written).toBe(Math.min(k, nonzero.length));
    expect([...out.subarray(0, written)]).toEqual(expected);
  });
});

describe('UploadEncoder', () => {
  it('topk: sends the largest accumulated entries and keeps the rest for later (hand-computed)', () => {
    const encoder = new UploadEncoder('topk', 4);
    // k = round(0.25 * 4) = 1: the largest magnitude, -3, goes; the rest waits.
    expect(decoded(encoder.encode(Float32Array.of(0.5, -3, 1, 0.125), 0.25), 4)).toEqual(Float32Array.of(0, -3, 0, 0));
    expect(encoder.residual).toEqual(Float32Array.of(0.5, 0, 1, 0.125));
    // The residual adds up: 0.5 + 0.75 = 1.25 now beats 1 + 0.
    expect(decoded(encoder.encode(Float32Array.of(0.75, 0, 0, 0), 0.25), 4)).toEqual(Float32Array.of(1.25, 0, 0, 0));
    expect(encoder.residual).toEqual(Float32Array.of(0, 0, 1, 0.125));
    // Density 1: everything left goes, nothing remains.
    expect(decoded(encoder.encode(Float32Array.of(0, 0, 0, 0), 1), 4)).toEqual(Float32Array.of(0, 0, 1, 0.125));
    expect(encoder.residual).toEqual(new Float32Array(4));
  });

  it('topk: over many steps, what was sent plus the residual is what was given (nothing is lost)', () => {
    const n = 20_000;
    const encoder = new UploadEncoder('topk', n);
    const rng = new Rng(5);
    const given = new Float64Array(n);
    const sent = new Float64Array(n);
    for (let step = 0; step < 30; step++) {
      const g = Float32Array.from({ length: n }, () => rng.nextFloat() - 0.5);
      g.forEach((value, i) => (given[i]! += value));
      decoded(encoder.encode(g, 0.01), n).forEach((value, i) => (sent[i]! += value));
    }
    for (let i = 0; i < n; i++) expect(sent[i]! + encoder.residual[i]!).toBeCloseTo(given[i]!, 3);
  });

  it('bf16: sends rounded values and keeps the rounding error', () => {
    const encoder = new UploadEncoder('bf16', 2);
    expect(decoded(encoder.encode(Float32Array.of(1 + 2 ** -9, -2), 1), 2)).toEqual(Float32Array.of(1, -2));
    expect(encoder.residual).toEqual(Float32Array.of(2 ** -9, 0));
  });
});
