import { describe, expect, it } from 'vitest';
import { fromBf16, roundToBf16, toBf16 } from './bf16.js';

/** The float32 whose bits are `bits`. */
function float(bits: number): number {
  return new Float32Array(Uint32Array.of(bits).buffer)[0]!;
}

describe('bf16 rounding (nearest, ties to even, on the float32 bits)', () => {
  it.each([
    ['1 is exact', 0x3f800000, 0x3f80],
    ['below half an ulp rounds down', 0x3f807fff, 0x3f80],
    ['above half an ulp rounds up', 0x3f808001, 0x3f81],
    ['a tie with an even kept bit stays', 0x3f808000, 0x3f80],
    ['a tie with an odd kept bit goes up to even', 0x3f818000, 0x3f82],
    ['negative values round their magnitude', 0xbf808001, 0xbf81],
    ['a mantissa carry bumps the exponent', 0x3fffffff, 0x4000],
    ['+Infinity stays', 0x7f800000, 0x7f80],
    ['-Infinity stays', 0xff800000, 0xff80],
    ['the largest float32 overflows to Infinity', 0x7f7fffff, 0x7f80],
    ['a quiet NaN stays NaN', 0x7fc00000, 0x7fc0],
    ['a NaN with its payload only in the low bits stays NaN (not Infinity)', 0x7f800001, 0x7fc0],
    ['a subnormal tie with an even kept bit rounds to zero', 0x00008000, 0x0000],
    ['a subnormal tie with an odd kept bit rounds up', 0x00018000, 0x0002],
    ['the smallest bf16 subnormal is exact', 0x00010000, 0x0001],
    ['-0 keeps its sign', 0x80000000, 0x8000],
  ])('%s: float bits %i -> bf16 %i', (_name, bits, expected) => {
    expect(toBf16(float(bits))).toBe(expected);
  });

  it('fromBf16 is exact and inverts toBf16 on bf16 values', () => {
    expect(fromBf16(0x3f80)).toBe(1);
    expect(fromBf16(0xc040)).toBe(-3);
    expect(fromBf16(0x7f80)).toBe(Infinity);
    expect(Number.isNaN(fromBf16(0x7fc0))).toBe(true);
    for (const bits of [0x0001, 0x1234, 0x3f81, 0x7f7f, 0x8001, 0xbeef]) expect(toBf16(fromBf16(bits))).toBe(bits);
  });
});

describe('roundToBf16 with error feedback', () => {
  it('carries what was not sent to the next step (hand-computed: 1 + 2^-9 three times)', () => {
    const residual = new Float32Array(1);
    const out = new Uint16Array(1);
    const g = Float32Array.of(1 + 2 ** -9);
    // step 1: 1 + 2^-9 is below half an ulp (2^-8) above 1: sends 1, keeps 2^-9.
    roundToBf16(g, out, residual);
    expect([fromBf16(out[0]!), residual[0]]).toEqual([1, 2 ** -9]);
    // step 2: 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even is 1, keeps 2^-8.
    roundToBf16(g, out, residual);
    expect([fromBf16(out[0]!), residual[0]]).toEqual([1, 2 ** -8]);
    // step 3: 1 + 3 * 2^-9 is above the tie: sends 1 + 2^-7, keeps -2^-9.
    roundToBf16(g, out, residual);
    expect([fromBf16(out[0]!), residual[0]]).toEqual([1 + 2 ** -7, -(2 ** -9)]);
    // Everything sent plus the residual is everything given.
    expect(1 + 1 + (1 + 2 ** -7) + residual[0]!).toBe(3 * (1 + 2 ** -9));
  });

  it('without a residual, rounds each value as it is', () => {
    const out = new Uint16Array(3);
    roundToBf16(Float32Array.of(1, -2.5, 1 + 2 ** -9), out, null);
    expect([...out].map(fromBf16)).toEqual([1, -2.5, 1]);
  });
});
