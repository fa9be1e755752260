/**
 * The one msgpack codec of the wire: plain msgpack maps (no record extension, so any
 * msgpack decoder reads them) plus msgpackr's typed-array extension, so a Float32Array
 * of parameters travels as its raw little-endian bytes and comes back a Float32Array.
 *
 * A step's parameters and a gradient are 4.8 MB each, and a fresh buffer of that size costs
 * far more in page faults than a copy into memory already touched (bench/README.md, "Fresh
 * memory"). So the large arrays are neither copied out of a received frame nor packed into a
 * new one each time:
 * - a frame's one large Float32Array field goes first, its bytes at an offset that is a
 *   multiple of 4 (see `layout`), and the decoder returns typed arrays as views of the
 *   frame where they lie when aligned (a copy otherwise, as msgpackr does);
 * - a `FrameWriter` encodes into a buffer it keeps and reuses once the socket has sent it.
 *
 * NOTE: `decodeFrame` returns `unknown`: pass it to parseMessage before using it.
 */
import { Packr, addExtension } from 'msgpackr';
import { copyBytes, viewBytes } from '../bytes.js';
import type { Message } from './messages.js';

// NOTE: without moreTypes a Float32Array decodes as a Buffer of its bytes (TOOLCHAIN.md).
const packr = new Packr({ moreTypes: true, useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** msgpackr's typed-array extension: type 0x74, then a code (the index below), then the bytes. */
const TYPED_ARRAY_EXT = 0x74;
const TYPED_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array] as const;
const FLOAT32_CODE = TYPED_ARRAYS.indexOf(Float32Array);
/** msgpackr's codes for a plain ArrayBuffer and a DataView in the same extension. */
const ARRAY_BUFFER_CODE = 16;
const DATA_VIEW_CODE = 17;

/** Float32Array fields at least this large go first in their frame, aligned. */
const LARGE_FIELD_BYTES = 4096;

// NOTE: replaces msgpackr's decoder of the extension (process-wide; this codec is msgpackr's only user).
// Same values as msgpackr's, but a view of the frame instead of a copy wherever alignment allows.
addExtension({ type: TYPED_ARRAY_EXT, unpack: unpackTypedArray } as unknown as Parameters<typeof addExtension>[0]);

function unpackTypedArray(data: Uint8Array): unknown {
  const code = data[0]!;
  const bytes = data.subarray(1);
  const Type = TYPED_ARRAYS[code];
  if (Type !== undefined) return viewBytes<unknown>(Type, bytes);
  if (code === ARRAY_BUFFER_CODE) return copyBytes(bytes);
  if (code === DATA_VIEW_CODE) return new DataView(copyBytes(bytes));
  throw new Error(`unknown typed array code ${code}`);
}

/** The frame of `message` in bytes of its own. */
export function encodeMessage(message: Message): Uint8Array {
  return encode(message, (size) => new Uint8Array(size));
}

/**
 * Encodes the frames of one sender into a buffer it keeps: `encode` writes a large frame
 * there unless the previous one is still being sent (then into a new buffer), and
 * `release(frame)`, called when the socket has written the frame (ws's send callback),
 * makes the buffer free again. Frames without a large array come from msgpackr as usual.
 */
export class FrameWriter {
  private buffer = new Uint8Array(0);
  private lent = false;

  encode(message: Message): Uint8Array {
    return encode(message, (size) => {
      if (this.lent) return new Uint8Array(size);
      if (this.buffer.length < size) this.buffer = new Uint8Array(size);
      this.lent = true;
      return this.buffer.subarray(0, size);
    });
  }

  release(frame: Uint8Array): void {
    if (frame.buffer === this.buffer.buffer) this.lent = false;
  }

  /** Lets go of the buffer (a frame still being sent keeps its own reference). */
  clear(): void {
    this.buffer = new Uint8Array(0);
    this.lent = false;
  }
}

function encode(message: Message, allocate: (size: number) => Uint8Array): Uint8Array {
  const key = largeField(message);
  if (key === null) return packr.pack(message);
  const array = (message as unknown as Record<string, Float32Array>)[key]!;
  const { [key]: _large, ...rest } = message as unknown as Record<string, unknown>;
  const head = packr.pack(rest);
  const fields = head.subarray(checkedMap16(head));
  const count = new DataView(head.buffer, head.byteOffset).getUint16(1) + 1;
  if (count > 0xffff) throw new RangeError(`codec: a message of ${count} fields does not fit a map16 header`);
  const place = layout(key.length);
  const frame = allocate(place.dataOffset + array.byteLength + fields.length);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let at = 0;
  if (place.map32) {
    frame[at] = 0xdf;
    view.setUint32(at + 1, count);
    at += 5;
  } else {
    frame[at] = 0xde;
    view.setUint16(at + 1, count);
    at += 3;
  }
  const keyHeader = [[0xa0 | key.length], [0xd9, key.length], [0xda, 0, key.length]][place.keyHeader - 1]!;
  frame.set(keyHeader, at);
  at += keyHeader.length;
  for (let i = 0; i < key.length; i++) frame[at++] = key.charCodeAt(i);
  frame[at] = 0xc9; // ext 32: length (of the code and the bytes), type, code
  view.setUint32(at + 1, array.byteLength + 1);
  frame[at + 5] = TYPED_ARRAY_EXT;
  frame[at + 6] = FLOAT32_CODE;
  frame.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), place.dataOffset);
  frame.set(fields, place.dataOffset + array.byteLength);
  return frame;
}

/** The first Float32Array field of at least LARGE_FIELD_BYTES of a plain object, if any. */
function largeField(message: Message): string | null {
  // NOTE: anything else (an array, null, a number: the fuzzer sends such frames) is msgpackr's to encode.
  if (typeof message !== 'object' || message === null || Object.getPrototypeOf(message) !== Object.prototype) return null;
  for (const [key, value] of Object.entries(message)) {
    if (value instanceof Float32Array && value.byteLength >= LARGE_FIELD_BYTES && key.length < 32 && /^[\x20-\x7e]*$/.test(key)) return key;
  }
  return null;
}

/**
 * Where the large field's bytes start: after the map header (map16, 3 bytes, or map32, 5),
 * the key (a fixstr, str8 or str16 header: 1, 2 or 3 bytes) and the ext 32 header (7).
 * msgpack lets an encoder pick any of these for the same map, so the first pick (map16
 * before map32, shorter key headers first) whose sum is a multiple of 4 is taken; the four
 * residues mod 4 are all reachable.
 */
export function layout(keyLength: number): { map32: boolean; keyHeader: 1 | 2 | 3; dataOffset: number } {
  for (const map32 of [false, true]) {
    for (const keyHeader of [1, 2, 3] as const) {
      const dataOffset = (map32 ? 5 : 3) + keyHeader + keyLength + 7;
      if (dataOffset % 4 === 0) return { map32, keyHeader, dataOffset };
    }
  }
  throw new Error('unreachable: every residue mod 4 has a layout');
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
