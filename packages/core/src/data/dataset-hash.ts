/**
 * The content hash of a Dataset, which workers and the coordinator compare to know they
 * hold the same images. Node only: it uses node:crypto's synchronous SHA-256.
 */
import { createHash } from 'node:crypto';
import type { Dataset } from './dataset.js';

const hashes = new WeakMap<Dataset, string>();

/**
 * Hex SHA-256 of the content: the ASCII tag "convoy-dataset-v1", then count, channels,
 * height, width, classes as little-endian uint32, then the pixel bytes, then the label bytes.
 * The name is not hashed. Computed once per Dataset object (about 30 ms for MNIST's 47 MB of training images).
 */
export function datasetHash(dataset: Dataset): string {
  const cached = hashes.get(dataset);
  if (cached !== undefined) return cached;
  const header = new DataView(new ArrayBuffer(20));
  [dataset.count, dataset.channels, dataset.height, dataset.width, dataset.classes].forEach((value, i) =>
    header.setUint32(4 * i, value, true),
  );
  const hash = createHash('sha256')
    .update('convoy-dataset-v1')
    .update(new Uint8Array(header.buffer))
    .update(dataset.pixels)
    .update(dataset.labels)
    .digest('hex');
  hashes.set(dataset, hash);
  return hash;
}
