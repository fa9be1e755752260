import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { fromBf16 } from './bf16.js';
import { PACKED_FORMAT, decodePacked } from './packed.js';
import { selectTopK } from './topk.js';
import { UploadEncoder } from './upload.js';

function decoded(bytes: Uint8Array, paramCount: number): Float32Array {
  const into = new Float32Array(paramCount);
  decodePacked(bytes, into, 'test');
  return into;
}

/** Heavy tails like a gradient's, and some exact zeros (never selected). */
function heavyTailed(rng: Rng, i: number): number {
  return i % 7 === 0 ? 0 : (rng.nextFloat() - 0.5) * Math.exp(6 * rng.nextFloat());
}
/** Few distinct magnitudes: the k-th largest is tied with many others. */
function tied(rng: Rng): number {
  return (Math.floor(rng.nextFloat() * 7) - 3) * 0.5;
}
/** Subnormals and zeros only: everything sits in the lowest buckets. */
function subnormal(rng: Rng): number {
  return rng.nextFloat() < 0.2 ? 0 : (rng.nextFloat() - 0.5) * 2 ** -130;
}

describe('selectTopK', () => {
  it.each([
    ['heavy-tailed', 100_000, 500, heavyTailed],
    ['heavy-tailed', 100_000, 25_000, heavyTailed],
    ['heavy-tailed', 3_000, 2_999, heavyTailed],
    ['heavy-tailed', 50, 50, heavyTailed],
    ['tied', 10_000, 2_500, tied],
    ['tied', 10_000, 1, tied],
    ['subnormal', 10_000, 300, subnormal],
  ] as const)('%s n=%i k=%i: the indices of the k largest magnitudes, ascending, lower indices first among ties (against a full sort)', (_kind, n, k, draw) => {
    const rng = new Rng(n + k);
    const values = Float32Array.from({ length: n }, (_, i) => draw(rng, i));
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
    // 8 entries, so that sparse (8 + 3 bytes an entry) is smaller than dense bf16 (2 + 16).
    const encoder = new UploadEncoder('topk', 8);
    // k = round(0.125 * 8) = 1: the largest magnitude, -3, goes; the rest waits.
    expect(decoded(encoder.encode(Float32Array.of(0.5, -3, 1, 0.125, 0, 0, 0, 0), 0.125), 8)).toEqual(Float32Array.of(0, -3, 0, 0, 0, 0, 0, 0));
    expect(encoder.residual).toEqual(Float32Array.of(0.5, 0, 1, 0.125, 0, 0, 0, 0));
    // The residual adds up: 0.5 + 0.75 = 1.25 now beats 1 + 0.
    expect(decoded(encoder.encode(Float32Array.of(0.75, 0, 0, 0, 0, 0, 0, 0), 0.125), 8)).toEqual(Float32Array.of(1.25, 0, 0, 0, 0, 0, 0, 0));
    expect(encoder.residual).toEqual(Float32Array.of(0, 0, 1, 0.125, 0, 0, 0, 0));
    // Density 1: everything left goes, nothing remains.
    expect(decoded(encoder.encode(new Float32Array(8), 1), 8)).toEqual(Float32Array.of(0, 0, 1, 0.125, 0, 0, 0, 0));
    expect(encoder.residual).toEqual(new Float32Array(8));
  });

  it('topk: values go as bf16 and their rounding error stays in the residual (hand-computed)', () => {
    const encoder = new UploadEncoder('topk', 8);
    // bf16 keeps 8 significant bits: 1 + 2^-9 goes as 1, 3 + 2^-7 as 3 (a tie, to even);
    // 0.1 (not sent) waits whole.
    const bytes = encoder.encode(Float32Array.of(1 + 2 ** -9, 0, -(3 + 2 ** -7), 0.1, 0, 0, 0, 0), 0.25);
    expect(bytes[0]).toBe(PACKED_FORMAT.sparseBf16);
    expect(decoded(bytes, 8)).toEqual(Float32Array.of(1, 0, -3, 0, 0, 0, 0, 0));
    expect(encoder.residual).toEqual(Float32Array.of(2 ** -9, 0, -(2 ** -7), Math.fround(0.1), 0, 0, 0, 0));
  });

  it('topk: a value beyond the largest bf16 goes as the largest bf16, not Infinity', () => {
    const encoder = new UploadEncoder('topk', 8);
    const huge = Math.fround(3.4e38);
    const largestBf16 = fromBf16(0x7f7f);
    expect(decoded(encoder.encode(Float32Array.of(0, huge, 0, 0, 0, 0, 0, 0), 0.125), 8)[1]).toBe(largestBf16);
    expect(encoder.residual[1]).toBe(huge - largestBf16);
  });

  it.each([
    ['sparse bf16', 0.01, PACKED_FORMAT.sparseBf16],
    ['the dense bf16 fallback', 0.7, PACKED_FORMAT.denseBf16],
  ])('topk, %s: each step, sent + residual after = float32(residual before + gradient), bit for bit', (_name, density, format) => {
    const n = 20_000;
    const encoder = new UploadEncoder('topk', n);
    const rng = new Rng(9);
    for (let step = 0; step < 10; step++) {
      const gradient = Float32Array.from({ length: n }, () => (rng.nextFloat() - 0.5) * Math.exp(8 * rng.nextFloat()));
      const accumulated = new Float32Array(n);
      for (let i = 0; i < n; i++) accumulated[i] = encoder.residual[i]! + gradient[i]!;
      const bytes = encoder.encode(gradient, density);
      expect(bytes[0]).toBe(format);
      const sent = decoded(bytes, n);
      const sentBits = new Uint32Array(sent.buffer);
      for (let i = 0; i < n; i++) {
        expect(sentBits[i]! & 0xffff).toBe(0); // a bf16 value
        // The subtraction is exact, so this float32 sum is too: nothing was rounded away.
        if (sent[i]! + encoder.residual[i]! !== accumulated[i]!) expect([i, sent[i]! + encoder.residual[i]!]).toEqual([i, accumulated[i]!]);
      }
    }
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
