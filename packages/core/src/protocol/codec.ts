/**
 * The one msgpack codec of the wire: plain msgpack maps (no record extension, so any
 * msgpack decoder reads them) plus msgpackr's typed-array extension, so a Float32Array
 * of parameters travels as its raw little-endian bytes and comes back a Float32Array.
 *
 * NOTE: `decodeFrame` returns `unknown`: pass it to parseMessage before using it.
 */
import { Packr } from 'msgpackr';
import type { Message } from './messages.js';

// NOTE: without moreTypes a Float32Array decodes as a Buffer of its bytes (TOOLCHAIN.md).
const packr = new Packr({ moreTypes: true, useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** One frame's bytes (a view into msgpackr's output buffer, which is never rewritten in place). */
export function encodeMessage(message: Message): Uint8Array {
  return packr.pack(message);
}

/** Decodes one frame; throws msgpackr's plain errors on bad bytes (parse.ts's decodeMessage wraps them). */
export function decodeFrame(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/**
 * Views little-endian float bytes as a Float32Array without copying when aligned.
 * NOTE: a Float32Array view needs byteOffset % 4 === 0; Node's pooled Buffers often are not.
 */
export function float32View(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new RangeError(`float32View: ${bytes.byteLength} bytes is not a multiple of 4`);
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const copy = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(copy.buffer).set(bytes);
  return copy;
}
