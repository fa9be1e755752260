/**
 * Little-endian bytes read as typed arrays, for the wire codec and the checkpoint format:
 * a view where the bytes are aligned to the element size (no copy of a 4.8 MB array), a
 * copy otherwise.
 */

/** A typed array's constructor, as far as viewing bytes needs it. */
export interface TypedArrayType<A> {
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): A;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
}

/** `bytes` as an array of `Type`; a RangeError unless they are a whole number of elements. */
export function viewBytes<A>(Type: TypedArrayType<A>, bytes: Uint8Array): A {
  const size = Type.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0) throw new RangeError(`${bytes.byteLength} bytes are not a whole ${Type.name}`);
  if (bytes.byteOffset % size === 0) return new Type(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size);
  return new Type(copyBytes(bytes));
}

export function float32View(bytes: Uint8Array): Float32Array {
  return viewBytes(Float32Array, bytes);
}

/** A new ArrayBuffer holding `bytes`. NOTE: Uint8Array's slice: a Node Buffer's slice() is a view, not a copy. */
export function copyBytes(bytes: Uint8Array): ArrayBuffer {
  return Uint8Array.prototype.slice.call(bytes).buffer;
}
