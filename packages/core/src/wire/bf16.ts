/**
 * bfloat16: the top 16 bits of an IEEE float32 (sign, 8 exponent bits, 7 mantissa bits).
 * Same range as float32, ~3 significant digits: enough for a gradient whose rounding error
 * is carried to the next step (error feedback), never for parameters.
 *
 * Rounding is to nearest, ties to even, on the float32's bits (what hardware bf16 converts
 * do): add 0x7fff plus the lowest kept bit, then drop the low 16 bits. Infinity stays
 * Infinity; a finite value that rounds past the largest bf16 becomes Infinity (IEEE
 * overflow); NaN stays a quiet NaN (the add would otherwise carry NaN's payload into the
 * exponent); subnormals round like any other value (bf16 has subnormals too).
 */

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** The bf16 bits (0..0xffff) nearest to `value` (rounded to float32 first). */
export function toBf16(value: number): number {
  scratch[0] = value;
  return bitsToBf16(scratchBits[0]!);
}

/** The float32 a bf16 pattern stands for (exact: bf16 is a subset of float32). */
export function fromBf16(bits: number): number {
  scratchBits[0] = (bits & 0xffff) << 16;
  return scratch[0]!;
}

/** bf16 bits of the float32 whose bits are `bits` (an unsigned 32-bit integer). */
export function bitsToBf16(bits: number): number {
  // NOTE: NaN first: rounding a NaN whose payload sits only in the low bits would make it Infinity.
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return ((bits >>> 16) | 0x0040) & 0xffff;
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

/**
 * Rounds `source` to bf16 into `out` (bits), and leaves in `residual` what was not sent:
 * residual = (residual + source) - sent, all in float32. With `residual` null the values are
 * rounded as they are. Returns nothing; `out` has source.length entries.
 */
export function roundToBf16(source: Float32Array, out: Uint16Array, residual: Float32Array | null): void {
  const length = source.length;
  if (residual === null) {
    const bits = new Uint32Array(source.buffer, source.byteOffset, length);
    for (let i = 0; i < length; i++) out[i] = bitsToBf16(bits[i]!);
    return;
  }
  const residualBits = new Uint32Array(residual.buffer, residual.byteOffset, length);
  for (let i = 0; i < length; i++) {
    residual[i] = residual[i]! + source[i]!;
    const sent = bitsToBf16(residualBits[i]!);
    out[i] = sent;
    residual[i] = residual[i]! - fromBf16(sent);
  }
}

/**
 * bf16 bits of the finite float32 whose bits are `bits`, rounded to nearest like bitsToBf16,
 * but never to Infinity: a value beyond the largest bf16 is cut to it (toward zero).
 * NOTE: a frame holding Infinity is refused, and the residual would hold -Infinity.
 */
export function finiteBf16(bits: number): number {
  const rounded = bitsToBf16(bits);
  return (rounded & 0x7f80) === 0x7f80 && (bits & 0x7f800000) !== 0x7f800000 ? bits >>> 16 : rounded;
}

/**
 * Sends entries of `values` as bf16 with error feedback: rounds the entries at
 * `indices[0..count)` (ascending; every entry, count = values.length, when `indices` is
 * null) with finiteBf16, writes each pattern little-endian into `out` from byte `offset`
 * (2 bytes an entry, in order), and replaces each entry by its rounding error (value -
 * sent, exact in float32: both are multiples of the value's float32 ulp, less than 2^8 of
 * them apart). `sent` (or null) receives the sent values at the same entries.
 * NOTE: one loop with the rounding inlined, here beside it: on a vector's worth of entries
 * a call per entry into another module (and DataView writes) cost several times the work.
 */
export function sendAsBf16(values: Float32Array, indices: Uint32Array | null, count: number, out: Uint8Array, offset: number, sent: Float32Array | null): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let j = 0; j < count; j++, offset += 2) {
    const index = indices === null ? j : indices[j]!;
    const rounded = finiteBf16(bits[index]!);
    out[offset] = rounded & 0xff;
    out[offset + 1] = rounded >>> 8;
    scratchBits[0] = rounded << 16;
    const value = scratch[0]!;
    values[index] = values[index]! - value;
    if (sent !== null) sent[index] = value;
  }
}
