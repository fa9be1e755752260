/**
 * The IDX file format of MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/), also used
 * by Fashion-MNIST and EMNIST:
 *
 *   bytes 0-1  zero
 *   byte  2    element type (0x08 = unsigned byte, the only one Convoy reads)
 *   byte  3    number of dimensions d
 *   then d big-endian uint32 sizes, then the elements, row-major.
 *
 * So images are magic 0x00000803 [count, rows, cols] and labels 0x00000801 [count].
 * A file ending in `.gz` (or starting with gzip's magic) is gunzipped first.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

import { DataError } from './data-error.js';

export { DataError };

export interface IdxArray {
  /** Sizes of the dimensions, e.g. [60000, 28, 28]. */
  readonly shape: readonly number[];
  /** The elements, row-major (a view into the file's bytes, not a copy). */
  readonly data: Uint8Array;
}

const UNSIGNED_BYTE = 0x08;
const GZIP_MAGIC = [0x1f, 0x8b] as const;

function hex(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * Parses IDX bytes. `source` names the file in errors. When `expectedDimensions` is given,
 * the magic must be 0x0000080<expectedDimensions> (3 for images, 1 for labels).
 */
export function parseIdx(bytes: Uint8Array, source: string, expectedDimensions?: number): IdxArray {
  if (bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1]) {
    try {
      const unzipped = gunzipSync(bytes);
      bytes = new Uint8Array(unzipped.buffer, unzipped.byteOffset, unzipped.byteLength);
    } catch (error) {
      throw new DataError(`${source}: corrupt gzip data (${(error as Error).message})`);
    }
  }
  if (bytes.length < 4) throw new DataError(`${source}: truncated: ${bytes.length} bytes, shorter than the 4-byte IDX magic`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const dimensions = bytes[3]!;
  const expectedMagic = expectedDimensions === undefined ? undefined : (UNSIGNED_BYTE << 8) | expectedDimensions;
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== UNSIGNED_BYTE || dimensions === 0 || (expectedMagic !== undefined && magic !== expectedMagic)) {
    const wanted = expectedMagic === undefined ? 'an IDX file of unsigned bytes (0x000008dd)' : hex(expectedMagic);
    throw new DataError(`${source}: wrong magic number ${hex(magic)}, expected ${wanted}`);
  }
  const headerLength = 4 + 4 * dimensions;
  if (bytes.length < headerLength) {
    throw new DataError(`${source}: truncated: ${bytes.length} bytes, shorter than its ${headerLength}-byte header`);
  }
  const shape: number[] = [];
  let elements = 1;
  for (let d = 0; d < dimensions; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    shape.push(size);
    elements *= size;
  }
  const dataLength = bytes.length - headerLength;
  if (dataLength < elements) {
    throw new DataError(
      `${source}: truncated: header says ${shape.join('x')} = ${elements} bytes of data, the file holds ${dataLength}`,
    );
  }
  if (dataLength > elements) {
    throw new DataError(`${source}: ${dataLength - elements} unexpected bytes after the ${shape.join('x')} data its header describes`);
  }
  return { shape, data: bytes.subarray(headerLength, headerLength + elements) };
}

/** Reads and parses an IDX file (gzipped or not); errors name `path`. */
export function readIdx(path: string, expectedDimensions?: number): IdxArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`${path}: file not found`);
    throw new DataError(`${path}: cannot read (${code ?? (error as Error).message})`);
  }
  // NOTE: a plain Uint8Array view, so that downstream code never meets Buffer's own slice() semantics.
  return parseIdx(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path, expectedDimensions);
}
