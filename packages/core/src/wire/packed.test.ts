import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../protocol/fields.js';
import { PACKED_FORMAT, decodePacked, packBf16, packSparse } from './packed.js';

const PARAMS = 40_000;

function decode(bytes: Uint8Array, paramCount = PARAMS): Float32Array {
  const into = new Float32Array(paramCount).fill(7);
  decodePacked(bytes, into, 'gradient.packed');
  return into;
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
  ])('%s', (_name, bytes, code) => {
    expect(codeOf(bytes)).toBe(code);
  });

  it('a bf16 NaN or Infinity', () => {
    expect(codeOf(packBf16(Uint16Array.of(0x3f80, 0x7fc0)), 2)).toBe('NOT_FINITE');
    expect(codeOf(packBf16(Uint16Array.of(0xff80, 0x3f80)), 2)).toBe('NOT_FINITE');
  });
});
