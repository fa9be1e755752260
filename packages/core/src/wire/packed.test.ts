import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../protocol/fields.js';
import { fromBf16, toBf16 } from './bf16.js';
import { PACKED_FORMAT, decodePacked, decodeSparseEntries, packBf16, packSparse, packTopk } from './packed.js';

const PARAMS = 40_000;

function decode(bytes: Uint8Array, paramCount = PARAMS): Float32Array {
  const into = new Float32Array(paramCount).fill(7);
  decodePacked(bytes, into, 'gradient.packed');
  return into;
}

function messageOf(bytes: Uint8Array, paramCount = PARAMS): string {
  try {
    decode(bytes, paramCount);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return `${(error as ProtocolError).code}: ${(error as ProtocolError).message}`;
  }
  return 'accepted';
}

function codeOf(bytes: Uint8Array, paramCount = PARAMS): string {
  try {
    decode(bytes, paramCount);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  return 'accepted';
}

/** A sparse frame written by hand: header, values, then the given varint bytes. */
function sparseBytes(count: number, values: number[], indexBytes: number[]): Uint8Array {
  const bytes = new Uint8Array(8 + 4 * values.length + indexBytes.length);
  const view = new DataView(bytes.buffer);
  bytes[0] = PACKED_FORMAT.sparseF32;
  view.setUint32(4, count, true);
  values.forEach((value, j) => view.setFloat32(8 + 4 * j, value, true));
  bytes.set(indexBytes, 8 + 4 * values.length);
  return bytes;
}

/** A sparse bf16 frame written by hand: header, bf16 patterns, then the given varint bytes. */
function sparseBf16Bytes(count: number, patterns: number[], indexBytes: number[]): Uint8Array {
  const bytes = new Uint8Array(8 + 2 * patterns.length + indexBytes.length);
  const view = new DataView(bytes.buffer);
  bytes[0] = PACKED_FORMAT.sparseBf16;
  view.setUint32(4, count, true);
  patterns.forEach((bits, j) => view.setUint16(8 + 2 * j, bits, true));
  bytes.set(indexBytes, 8 + 2 * patterns.length);
  return bytes;
}

describe('sparse bf16 encoding (packTopk)', () => {
  it('round-trips bf16 values, with gaps as varints, and leaves each rounding error in `values`', () => {
    const values = new Float32Array(PARAMS);
    const indices = Uint32Array.of(0, 5, 200, 200 + 16_384, PARAMS - 1);
    // Values with bits below bf16's 8 significant ones, so rounding shows.
    indices.forEach((index, j) => (values[index] = (j % 2 === 0 ? 1 : -1) * (1.1 + 0.37 * j)));
    values[7] = 0.75; // not among the indices: neither sent nor changed
    const original = values.slice();
    const sent = new Float32Array(PARAMS).fill(9);
    const bytes = packTopk(values, indices, indices.length, sent);
    // gaps 0, 5, 195, 16384, 23415: 1 + 1 + 2 + 3 + 3 bytes, after 2 bytes a value.
    expect(bytes.length).toBe(8 + 5 * 2 + 1 + 1 + 2 + 3 + 3);
    expect(bytes[0]).toBe(PACKED_FORMAT.sparseBf16);
    const expected = new Float32Array(PARAMS);
    for (const index of indices) expected[index] = fromBf16(toBf16(original[index]!));
    expect(decode(bytes)).toEqual(expected);
    expect(sent).toEqual(expected);
    const residual = original.slice();
    for (const index of indices) residual[index] = original[index]! - expected[index]!;
    expect(values).toEqual(residual);
    expect(values[7]).toBe(0.75);
    for (const index of indices) {
      expect(values[index]).not.toBe(0); // none of them is a bf16 value
      expect(Math.abs(values[index]!)).toBeLessThanOrEqual(Math.abs(original[index]!) * 2 ** -8);
    }
  });

  it('an unaligned view of the bytes decodes the same', () => {
    const values = new Float32Array(PARAMS);
    values[3] = 2;
    values[999] = -1.5;
    const bytes = packTopk(values.slice(), Uint32Array.of(3, 999), 2);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(decode(shifted.subarray(1))).toEqual(values);
  });

  it('falls back to dense bf16 when sparse would not be smaller: every entry goes, each leaves its rounding error', () => {
    const values = Float32Array.from({ length: 10 }, (_, i) => (i - 4.5) * 1.01);
    const original = values.slice();
    // 3 entries: 8 + 3 x 2 + 3 = 17 bytes sparse, against 2 + 10 x 2 = 22 dense.
    expect(packTopk(values.slice(), Uint32Array.of(0, 1, 2), 3)[0]).toBe(PACKED_FORMAT.sparseBf16);
    // 5 entries: 8 + 5 x 2 + 5 = 23 bytes sparse: dense, all 10 entries.
    const bytes = packTopk(values, Uint32Array.of(0, 1, 2, 3, 4), 5);
    expect(bytes[0]).toBe(PACKED_FORMAT.denseBf16);
    expect(bytes.length).toBe(2 + 20);
    const expected = original.map((value) => fromBf16(toBf16(value)));
    expect(decode(bytes, 10)).toEqual(expected);
    expect(values).toEqual(original.map((value, i) => value - expected[i]!));
  });
});

describe('sparse encoding', () => {
  it('round-trips, with gaps as varints (1 byte below 128, 2 below 16384, 3 above)', () => {
    const values = new Float32Array(PARAMS);
    const indices = Uint32Array.of(0, 5, 200, 200 + 16_384, PARAMS - 1);
    indices.forEach((index, j) => (values[index] = (j + 1) * (j % 2 === 0 ? 1.5 : -0.25)));
    const bytes = packSparse(values, indices, indices.length);
    // gaps 0, 5, 195, 16384, PARAMS-1-16584 = 23415: 1 + 1 + 2 + 3 + 3 bytes.
    expect(bytes.length).toBe(8 + 5 * 4 + 1 + 1 + 2 + 3 + 3);
    expect(bytes[0]).toBe(PACKED_FORMAT.sparseF32);
    expect(decode(bytes)).toEqual(values);
  });

  it('an unaligned view of the bytes decodes the same (msgpack hands out any offset)', () => {
    const values = new Float32Array(PARAMS);
    values[3] = 2;
    values[999] = -1;
    const bytes = packSparse(values, Uint32Array.of(3, 999), 2);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(decode(shifted.subarray(1))).toEqual(values);
  });

  it('falls back to dense float32 when sparse would not be smaller', () => {
    const values = Float32Array.from({ length: 10 }, (_, i) => i - 4.5);
    const bytes = packSparse(values, Uint32Array.from({ length: 10 }, (_, i) => i), 10);
    expect(bytes[0]).toBe(PACKED_FORMAT.denseF32);
    expect(bytes.length).toBe(4 + 40);
    expect(decode(bytes, 10)).toEqual(values);
  });

  it('dense bf16 round-trips bf16 values', () => {
    const bytes = packBf16(Uint16Array.of(0x3f80, 0xc040, 0x0000));
    expect(bytes.length).toBe(2 + 6);
    expect(decode(bytes, 3)).toEqual(Float32Array.of(1, -3, 0));
  });
});

describe('malformed packed bytes are refused with a code', () => {
  it.each([
    ['an index out of range', sparseBytes(1, [1], [0xc0, 0xb8, 0x02]), 'BAD_FIELD'], // 40000
    ['a duplicate index (gap 0)', sparseBytes(2, [1, 2], [5, 0]), 'BAD_FIELD'],
    ['more entries counted than sent', sparseBytes(3, [1, 2], [5, 1]), 'BAD_LENGTH'],
    ['fewer entries counted than sent (trailing bytes)', sparseBytes(1, [1], [5, 1]), 'BAD_LENGTH'],
    ['a count above the parameter count', sparseBytes(PARAMS + 1, [], []), 'BAD_LENGTH'],
    ['an index cut short', sparseBytes(1, [1], [0x85]), 'BAD_LENGTH'],
    ['an overlong varint', sparseBytes(1, [1], [0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), 'BAD_FIELD'],
    ['a NaN value', sparseBytes(1, [NaN], [5]), 'NOT_FINITE'],
    ['an Infinity value', sparseBytes(1, [-Infinity], [5]), 'NOT_FINITE'],
    ['an unknown format', Uint8Array.of(9, 0, 0, 0), 'BAD_FIELD'],
    ['too short for a header', Uint8Array.of(2), 'BAD_LENGTH'],
    ['dense float32 of the wrong length', Uint8Array.of(3, 0, 0, 0, 0, 0, 0, 0), 'BAD_LENGTH'],
    ['dense bf16 of the wrong length', Uint8Array.of(1, 0, 0x80, 0x3f), 'BAD_LENGTH'],
    ['sparse bf16: an index out of range', sparseBf16Bytes(1, [0x3f80], [0xc0, 0xb8, 0x02]), 'BAD_FIELD'], // 40000
    ['sparse bf16: a duplicate index (gap 0)', sparseBf16Bytes(2, [0x3f80, 0x4000], [5, 0]), 'BAD_FIELD'],
    ['sparse bf16: a gap that would wrap past 2^32 to a lower index', sparseBf16Bytes(2, [0x3f80, 0x4000], [5, 0xff, 0xff, 0xff, 0xff, 0x0f]), 'BAD_FIELD'],
    ['sparse bf16: more entries counted than sent', sparseBf16Bytes(3, [0x3f80, 0x4000], [5, 1]), 'BAD_LENGTH'],
    ['sparse bf16: fewer entries counted than sent (trailing bytes)', sparseBf16Bytes(1, [0x3f80], [5, 1]), 'BAD_LENGTH'],
    ['sparse bf16: a count above the parameter count', sparseBf16Bytes(PARAMS + 1, [], []), 'BAD_LENGTH'],
    ['sparse bf16: too short for its header', Uint8Array.of(4, 0, 0, 0, 1, 0), 'BAD_LENGTH'],
    ['sparse bf16: an index cut short', sparseBf16Bytes(1, [0x3f80], [0x85]), 'BAD_LENGTH'],
    ['sparse bf16: an overlong varint', sparseBf16Bytes(1, [0x3f80], [0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), 'BAD_FIELD'],
    ['sparse bf16: a NaN value', sparseBf16Bytes(1, [0x7fc0], [5]), 'NOT_FINITE'],
    ['sparse bf16: a NaN value with a low payload', sparseBf16Bytes(1, [0xff81], [5]), 'NOT_FINITE'],
    ['sparse bf16: +Infinity', sparseBf16Bytes(1, [0x7f80], [5]), 'NOT_FINITE'],
    ['sparse bf16: -Infinity', sparseBf16Bytes(2, [0x3f80, 0xff80], [5, 1]), 'NOT_FINITE'],
  ])('%s', (_name, bytes, code) => {
    expect(codeOf(bytes)).toBe(code);
  });

  it('a bf16 NaN or Infinity', () => {
    expect(codeOf(packBf16(Uint16Array.of(0x3f80, 0x7fc0)), 2)).toBe('NOT_FINITE');
    expect(codeOf(packBf16(Uint16Array.of(0xff80, 0x3f80)), 2)).toBe('NOT_FINITE');
  });

  it('the first fault in entry order is the one reported (an entry\'s index before its value), with its message', () => {
    expect(messageOf(sparseBf16Bytes(2, [0x7fc0, 0x3f80], [5, 0]))).toBe('NOT_FINITE: gradient.packed: the value at index 5 is NaN');
    expect(messageOf(sparseBf16Bytes(2, [0x3f80, 0xff80], [5, 0]))).toBe('BAD_FIELD: gradient.packed: index 1 repeats index 5 (indices must be strictly increasing)');
    expect(messageOf(sparseBf16Bytes(2, [0x3f80, 0x7f80], [5, 3]))).toBe('NOT_FINITE: gradient.packed: the value at index 8 is Infinity');
    expect(messageOf(sparseBf16Bytes(3, [0x3f80, 0x3f80, 0x7f81], [0xc0, 0xb8, 0x02, 1, 1]))).toBe('BAD_FIELD: gradient.packed: index 0 = 40000 is not below 40000');
    expect(messageOf(sparseBytes(2, [1, -Infinity], [5, 1]))).toBe('NOT_FINITE: gradient.packed: the value at index 6 is -Infinity');
    expect(messageOf(sparseBytes(2, [NaN, 1], [0x85, 0x85]))).toBe('BAD_LENGTH: gradient.packed ends inside index 0 of 2');
  });
});

describe('decodeSparseEntries against a plain reading of the format', () => {
  /** The frame read field by field with DataView and fromBf16, as the header comment of packed.ts describes it. */
  function reference(bytes: Uint8Array): { indices: number[]; values: number[] } {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const size = bytes[0] === PACKED_FORMAT.sparseBf16 ? 2 : 4;
    const count = view.getUint32(4, true);
    const values = Array.from({ length: count }, (_, j) => (size === 2 ? fromBf16(view.getUint16(8 + 2 * j, true)) : view.getFloat32(8 + 4 * j, true)));
    const indices: number[] = [];
    let offset = 8 + size * count;
    for (let j = 0; j < count; j++) {
      let gap = 0;
      for (let shift = 0; ; shift += 7) {
        const byte = bytes[offset++]!;
        gap += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) break;
      }
      indices.push(j === 0 ? gap : indices[j - 1]! + gap);
    }
    return { indices, values };
  }

  it.each([
    ['bf16, 1% of the entries', 0.01, 'bf16'],
    ['bf16, 30%', 0.3, 'bf16'],
    ['bf16, a few entries far apart', 0.0002, 'bf16'],
    ['float32, 1%', 0.01, 'float32'],
  ] as const)('%s: the same entries, bit for bit (subnormals, -0 and the largest values too)', (_name, density, kind) => {
    let seed = 5;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32;
    const special = [-0, 1e-40, -3e-39, 3.3e38, -3.3e38, 1, -1];
    const values = Float32Array.from({ length: PARAMS }, (_, i) => (random() < density ? (i % 7 === 0 ? special[i % special.length]! : (random() - 0.5) * 2 ** (40 * random() - 20)) : 0));
    const indices = Uint32Array.from(Array.from(values).flatMap((value, i) => (value !== 0 || Object.is(value, -0) && i % 7 === 0 && random() < density ? [i] : [])));
    const bytes = kind === 'bf16' ? packTopk(values, indices, indices.length) : packSparse(values, indices, indices.length);
    expect(bytes[0]).toBe(kind === 'bf16' ? PACKED_FORMAT.sparseBf16 : PACKED_FORMAT.sparseF32);
    const entries = decodeSparseEntries(bytes, PARAMS, 'gradient.packed')!;
    const expected = reference(bytes);
    expect(expected.indices).toEqual([...indices]);
    expect([...entries.indices]).toEqual(expected.indices);
    const bits = (list: readonly number[] | Float32Array) => [...new Uint32Array(Float32Array.from(list).buffer)];
    expect(bits(entries.values)).toEqual(bits(expected.values));
  });
});
