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

/**
 * A message encoded as two byte strings whose concatenation is a frame of it: `encodeHead`
 * gives the map of every field but the shared ones, counting them, and `encodeField` gives
 * one field (key and value). A large field sent to many peers (a step's parameters) is then
 * encoded once and sent as the second fragment of each peer's WebSocket message.
 */
export function encodeField(key: string, value: unknown): Uint8Array {
  // The one-entry map's bytes after its header are exactly the key and the value.
  const map = packr.pack({ [key]: value });
  return map.subarray(checkedMap16(map));
}

/** The frame of `message` with `sharedFields` more entries announced in its map header (see encodeField). */
export function encodeHead(message: Message, sharedFields: number): Uint8Array {
  const head = Uint8Array.prototype.slice.call(packr.pack(message)); // a copy: its header is rewritten below
  const header = new DataView(head.buffer, head.byteOffset, checkedMap16(head));
  header.setUint16(1, header.getUint16(1) + sharedFields);
  return head;
}

/** The length of the map16 header (0xde, count big-endian) msgpackr writes for every object, any count. */
function checkedMap16(encoded: Uint8Array): number {
  if (encoded[0] !== 0xde) throw new RangeError(`codec: msgpackr encoded an object as 0x${encoded[0]!.toString(16)}..., not a map16`);
  return 3;
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
