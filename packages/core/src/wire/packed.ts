/**
 * The bytes of a compressed vector (a worker's gradient sum, or the coordinator's summed
 * update), as `packed` fields of the `gradient` and `update` messages carry them.
 * Little-endian; byte 0 names the format:
 *
 *   DENSE_BF16   [1][0]            then paramCount bf16 values (2 bytes each)
 *   SPARSE_F32   [2][0][0][0]      [count: u32] [count float32 values] [count indices as gaps]
 *   DENSE_F32    [3][0][0][0]      then paramCount float32 values
 *   SPARSE_BF16  [4][0][0][0]      [count: u32] [count bf16 values] [count indices as gaps]
 *
 * Sparse indices are strictly increasing; the first is stored as is, every later one as the
 * gap from the one before (>= 1), each an unsigned LEB128 varint (1 byte below 128, 2 below
 * 16384...): at 1% density (a mean gap of 100) about 1.3 bytes an index. Values first, so
 * they sit aligned to their size (4 or 2 bytes).
 *
 * topk sends SPARSE_BF16 (packTopk), or DENSE_BF16 when that is smaller (a summed update of
 * many workers, or the first steps' high density, can be dense); the rounding error of every
 * entry sent stays in the sender's residual. SPARSE_F32 and DENSE_F32 (packSparse) remain
 * valid frames: exact values where a caller needs them.
 *
 * decodePacked refuses anything malformed with a ProtocolError (the codes of every other bad
 * field): an unknown format, a wrong length, a count above paramCount, an index out of range,
 * unsorted or duplicate indices (a gap of 0), overlong varints, trailing bytes, NaN or Infinity.
 */
import { ProtocolError } from '../protocol/fields.js';
import { bitsToBf16, fromBf16, sendAsBf16 } from './bf16.js';

export const PACKED_FORMAT = { denseBf16: 1, sparseF32: 2, denseF32: 3, sparseBf16: 4 } as const;

const SPARSE_HEADER = 8;
const DENSE_F32_HEADER = 4;
const DENSE_BF16_HEADER = 2;

/** The most bytes a packed vector of `paramCount` entries can take (the parser's size limit). */
export function maxPackedBytes(paramCount: number): number {
  // packSparse falls back to dense float32 before sparse would be as large, packTopk to
  // dense bf16 (half of it).
  return DENSE_F32_HEADER + 4 * paramCount;
}

/** Bytes of `count` sparse float32 entries at most (varint gaps take up to 5 bytes). */
function sparseBound(count: number): number {
  return SPARSE_HEADER + count * 9;
}

/** Bytes of the varint gaps of `indices[0..count)` (strictly increasing; the first gap is from 0). */
function gapBytes(indices: Uint32Array, count: number): number {
  let bytes = count;
  let previous = 0;
  for (let j = 0; j < count; j++) {
    const index = indices[j]!;
    const gap = index - previous;
    previous = index;
    // One byte each, and one more for every 7 bits past the first 7.
    if (gap >= 0x80) bytes += gap < 0x4000 ? 1 : gap < 0x200000 ? 2 : gap < 0x10000000 ? 3 : 4;
  }
  return bytes;
}

/** Writes the varint gaps of `indices[0..count)` into `out` from `offset`; returns the offset after them. */
function writeGaps(out: Uint8Array, offset: number, indices: Uint32Array, count: number): number {
  let previous = 0;
  for (let j = 0; j < count; j++) {
    const index = indices[j]!;
    let gap = index - previous;
    previous = index;
    while (gap >= 0x80) {
      out[offset++] = (gap & 0x7f) | 0x80;
      gap >>>= 7;
    }
    out[offset++] = gap;
  }
  return offset;
}

/**
 * topk's frame: the entries of `values` at `indices` (strictly increasing, `count` of them)
 * rounded to bf16 as SPARSE_BF16, or every entry of `values` as DENSE_BF16 when that is no
 * larger. Each entry sent is replaced in `values` by its rounding error (value - sent, exact
 * in float32: both are multiples of the value's float32 ulp, less than 2^8 of them apart),
 * so `values` is left holding exactly what was not sent: an error-feedback residual.
 * `sent` (paramCount floats, or null) receives what a receiver decodes: the sent values, 0 elsewhere.
 */
export function packTopk(values: Float32Array, indices: Uint32Array, count: number, sent: Float32Array | null = null): Uint8Array {
  const denseBytes = DENSE_BF16_HEADER + 2 * values.length;
  const sparseBytes = SPARSE_HEADER + 2 * count + gapBytes(indices, count);
  if (sparseBytes >= denseBytes) {
    const out = new Uint8Array(denseBytes);
    out[0] = PACKED_FORMAT.denseBf16;
    sendAsBf16(values, null, values.length, out, DENSE_BF16_HEADER, sent);
    return out;
  }
  sent?.fill(0);
  const out = new Uint8Array(sparseBytes);
  out[0] = PACKED_FORMAT.sparseBf16;
  new DataView(out.buffer).setUint32(4, count, true);
  sendAsBf16(values, indices, count, out, SPARSE_HEADER, sent);
  writeGaps(out, SPARSE_HEADER + 2 * count, indices, count);
  return out;
}

/** Dense bf16 bytes of `bits` (bf16 patterns, one per parameter). */
export function packBf16(bits: Uint16Array): Uint8Array {
  const out = new Uint8Array(DENSE_BF16_HEADER + 2 * bits.length);
  out[0] = PACKED_FORMAT.denseBf16;
  const view = new DataView(out.buffer);
  for (let i = 0; i < bits.length; i++) view.setUint16(DENSE_BF16_HEADER + 2 * i, bits[i]!, true);
  return out;
}

/**
 * The entries of `values` at `indices` (strictly increasing), or the whole of `values` as
 * dense float32 when that is smaller.
 */
export function packSparse(values: Float32Array, indices: Uint32Array, count: number): Uint8Array {
  const denseBytes = DENSE_F32_HEADER + 4 * values.length;
  if (sparseBound(count) >= denseBytes) {
    const out = new Uint8Array(denseBytes);
    out[0] = PACKED_FORMAT.denseF32;
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(DENSE_F32_HEADER + 4 * i, values[i]!, true);
    return out;
  }
  const out = new Uint8Array(sparseBound(count));
  const view = new DataView(out.buffer);
  out[0] = PACKED_FORMAT.sparseF32;
  view.setUint32(4, count, true);
  let offset = SPARSE_HEADER;
  for (let j = 0; j < count; j++, offset += 4) view.setFloat32(offset, values[indices[j]!]!, true);
  return out.subarray(0, writeGaps(out, offset, indices, count));
}

/**
 * Decodes `bytes` into `into` (paramCount floats, overwritten: entries not sent are 0).
 * `where` names the field in errors ("gradient.packed").
 */
export function decodePacked(bytes: Uint8Array, into: Float32Array, where: string): void {
  const entries = decodeSparseEntries(bytes, into.length, where);
  if (entries === null) return decodeDense(bytes, into, where);
  scatterInto(entries, into.fill(0));
}

/** The entries a sparse frame carries (indices strictly increasing, values finite), both `count` long. */
export interface SparseEntries {
  readonly indices: Uint32Array;
  readonly values: Float32Array;
}

/**
 * The entries of a sparse packed vector of `paramCount` entries, or null when `bytes` is a
 * dense format (decodePacked then). Refuses what decodePacked refuses.
 * NOTE: what the coordinator reads from topk answers: a step's sum then touches only the
 * entries sent, not paramCount floats per answer.
 */
export function decodeSparseEntries(bytes: Uint8Array, paramCount: number, where: string): SparseEntries | null {
  if (bytes.length < 2) throw new ProtocolError('BAD_LENGTH', `${where} has ${bytes.length} bytes, too short for a header`);
  const format = bytes[0];
  switch (format) {
    case PACKED_FORMAT.sparseF32:
      return decodeSparse(bytes, paramCount, where, 4);
    case PACKED_FORMAT.sparseBf16:
      return decodeSparse(bytes, paramCount, where, 2);
    case PACKED_FORMAT.denseBf16:
    case PACKED_FORMAT.denseF32:
      return null;
    default:
      throw new ProtocolError('BAD_FIELD', `${where} has unknown format ${String(format)}`);
  }
}

function decodeDense(bytes: Uint8Array, into: Float32Array, where: string): void {
  const paramCount = into.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const format = bytes[0];
  switch (format) {
    case PACKED_FORMAT.denseBf16: {
      expectLength(bytes, DENSE_BF16_HEADER + 2 * paramCount, where);
      for (let i = 0; i < paramCount; i++) {
        const bits = view.getUint16(DENSE_BF16_HEADER + 2 * i, true);
        if ((bits & 0x7f80) === 0x7f80) throw new ProtocolError('NOT_FINITE', `${where}[${i}] is ${fromBf16(bits)}`);
        into[i] = fromBf16(bits);
      }
      return;
    }
    case PACKED_FORMAT.denseF32: {
      expectLength(bytes, DENSE_F32_HEADER + 4 * paramCount, where);
      for (let i = 0; i < paramCount; i++) {
        const value = view.getFloat32(DENSE_F32_HEADER + 4 * i, true);
        if (!Number.isFinite(value)) throw new ProtocolError('NOT_FINITE', `${where}[${i}] is ${value}`);
        into[i] = value;
      }
      return;
    }
    default:
      throw new ProtocolError('BAD_FIELD', `${where} has unknown format ${String(format)}`);
  }
}

/** `paramCount` floats: `entries` in place, 0 everywhere else (a sparse answer as a dense gradient). */
export function scatterEntries(entries: SparseEntries, paramCount: number): Float32Array {
  return scatterInto(entries, new Float32Array(paramCount));
}

/** Writes `entries` into `dense` (the other entries are left as they are); returns `dense`. */
export function scatterInto(entries: SparseEntries, dense: Float32Array): Float32Array {
  const { indices, values } = entries;
  for (let j = 0; j < indices.length; j++) dense[indices[j]!] = values[j]!;
  return dense;
}

/** A sparse frame whose values take `valueBytes` each: 4 (float32) or 2 (bf16). */
function decodeSparse(bytes: Uint8Array, paramCount: number, where: string, valueBytes: 2 | 4): SparseEntries {
  if (bytes.length < SPARSE_HEADER) throw new ProtocolError('BAD_LENGTH', `${where} has ${bytes.length} bytes, too short for a sparse header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(4, true);
  if (count > paramCount) throw new ProtocolError('BAD_LENGTH', `${where} counts ${count} entries, the model has ${paramCount} parameters`);
  // Each entry needs its value bytes and at least 1 index byte.
  if (bytes.length < SPARSE_HEADER + (valueBytes + 1) * count) {
    throw new ProtocolError('BAD_LENGTH', `${where} has ${bytes.length} bytes, too few for ${count} entries`);
  }
  const indices = new Uint32Array(count);
  const values = new Float32Array(count);
  // The values first, copied as bits (no float conversion per entry); the first non-finite
  // one is refused in the indices' loop, so a frame's first fault (in entry order, an
  // entry's index before its value) is the one reported.
  const valueBits = new Uint32Array(values.buffer);
  const firstNonFinite = valueBytes === 2 ? bf16ValueBits(bytes, count, valueBits) : float32ValueBits(view, count, valueBits);
  const length = bytes.length;
  let offset = SPARSE_HEADER + valueBytes * count;
  let index = 0;
  for (let j = 0; j < count; j++) {
    if (offset >= length) throw new ProtocolError('BAD_LENGTH', `${where} ends inside index ${j} of ${count}`);
    let gap = bytes[offset]!;
    // Gaps below 128 take one byte, below 16384 two: inline, in integer arithmetic. At 1%
    // density about 30% of the gaps take two bytes, and the varint loop (or a call) for
    // each of them cost most of the parse. Longer ones (and every fault) are read aside.
    if (gap < 0x80) offset++;
    else if (offset + 1 < length && bytes[offset + 1]! < 0x80) {
      gap = (gap & 0x7f) | (bytes[offset + 1]! << 7);
      offset += 2;
    } else {
      gap = longGap(bytes, offset, j, count, index, paramCount, where);
      offset = longGapEnd;
    }
    if (j > 0 && gap === 0) throw new ProtocolError('BAD_FIELD', `${where}: index ${j} repeats index ${index} (indices must be strictly increasing)`);
    index += gap;
    if (index >= paramCount) throw new ProtocolError('BAD_FIELD', `${where}: index ${j} = ${index} is not below ${paramCount}`);
    if (j === firstNonFinite) throw new ProtocolError('NOT_FINITE', `${where}: the value at index ${index} is ${values[j]!}`);
    indices[j] = index;
  }
  if (offset !== bytes.length) throw new ProtocolError('BAD_LENGTH', `${where} has ${bytes.length - offset} bytes after its ${count} entries`);
  return { indices, values };
}

/** Where the varint longGap read ends (its second result). */
let longGapEnd = 0;

/**
 * The gap of index `j` when its varint takes three bytes or more (from `offset`), with the
 * refusals of decodeSparse's loop for it; sets longGapEnd. Refuses here a gap that would
 * take the index (the one before it, `previous`, plus the gap) to paramCount or beyond, so
 * the gap returned is a small integer.
 */
function longGap(bytes: Uint8Array, offset: number, j: number, count: number, previous: number, paramCount: number, where: string): number {
  const length = bytes.length;
  let byte = bytes[offset++]!;
  let gap = byte & 0x7f;
  for (let shift = 7; byte >= 0x80; shift += 7) {
    if (offset >= length) throw new ProtocolError('BAD_LENGTH', `${where} ends inside index ${j} of ${count}`);
    if (shift > 28) throw new ProtocolError('BAD_FIELD', `${where}: index ${j} is an overlong varint`);
    byte = bytes[offset++]!;
    gap += (byte & 0x7f) * 2 ** shift;
  }
  longGapEnd = offset;
  if (j > 0 && gap === 0) throw new ProtocolError('BAD_FIELD', `${where}: index ${j} repeats index ${previous} (indices must be strictly increasing)`);
  const index = previous + gap;
  if (index >= paramCount) throw new ProtocolError('BAD_FIELD', `${where}: index ${j} = ${index} is not below ${paramCount}`);
  return gap;
}

/**
 * Copies a sparse frame's `count` bf16 values into `out` as float32 bits (a bf16 is the top
 * half of its float32); returns the position of the first NaN or Infinity (all exponent
 * bits set), or `count` when every value is finite.
 */
function bf16ValueBits(bytes: Uint8Array, count: number, out: Uint32Array): number {
  let firstNonFinite = count;
  for (let j = 0, offset = SPARSE_HEADER; j < count; j++, offset += 2) {
    const bits = bytes[offset]! | (bytes[offset + 1]! << 8);
    if ((bits & 0x7f80) === 0x7f80 && firstNonFinite === count) firstNonFinite = j;
    out[j] = bits << 16;
  }
  return firstNonFinite;
}

/** As bf16ValueBits, for a sparse frame's float32 values (`view` over the frame's bytes). */
function float32ValueBits(view: DataView, count: number, out: Uint32Array): number {
  let firstNonFinite = count;
  for (let j = 0; j < count; j++) {
    const bits = view.getUint32(SPARSE_HEADER + 4 * j, true);
    if ((bits & 0x7f800000) === 0x7f800000 && firstNonFinite === count) firstNonFinite = j;
    out[j] = bits;
  }
  return firstNonFinite;
}

function expectLength(bytes: Uint8Array, length: number, where: string): void {
  if (bytes.length !== length) throw new ProtocolError('BAD_LENGTH', `${where} has ${bytes.length} bytes, expected ${length}`);
}

/** Rounds `values` to bf16 in place (what a receiver of packBf16 bytes will hold). */
export function quantizeBf16InPlace(values: Float32Array): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) bits[i] = bitsToBf16(bits[i]!) << 16;
}
