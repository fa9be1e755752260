/**
 * The training set kept in the browser's Cache Storage, keyed by the dataset's id (both
 * splits' hashes): the raw `dataset` frame as the coordinator sent it, so a reload says
 * hello with that id and is sent no dataset. Every copy read back is parsed and hashed
 * again before use, as a received one is. Cache Storage exists only in secure contexts
 * (https, or http on localhost/127.0.0.1): elsewhere `openDatasetStore` gives null and the
 * dataset comes over the socket at every join.
 */
import { createDataset, datasetId, decodeMessage, DEFAULT_LIMITS, type Dataset, type DatasetMessage } from '@convoy/core';
import type { WorkerData } from '@convoy/worker/compute';

const CACHE_NAME = 'convoy-datasets';
const KEY_PREFIX = '/convoy-dataset/';
const DATASET_ONLY = { ...DEFAULT_LIMITS, accept: new Set(['dataset'] as const) };

export class DatasetRefused extends Error {
  readonly code = 'DATASET_MISMATCH';
}

export interface DatasetStore {
  /** The id of the dataset kept here, or null. */
  storedId(): Promise<string | null>;
  /** The kept dataset, checked; null (and forgotten) when missing or corrupt. */
  load(id: string): Promise<WorkerData | null>;
  /** Keeps `frame` (the dataset message's bytes) as the only dataset. */
  save(id: string, frame: Uint8Array<ArrayBuffer>): Promise<void>;
  forget(): Promise<void>;
}

export async function openDatasetStore(): Promise<DatasetStore | null> {
  const caches = (globalThis as { caches?: CacheStorage }).caches;
  if (caches === undefined) return null;
  let cache: Cache;
  try {
    cache = await caches.open(CACHE_NAME);
  } catch {
    return null; // e.g. storage disabled by the browser's privacy settings
  }
  const keys = async () => (await cache.keys()).map((request) => new URL(request.url).pathname).filter((path) => path.startsWith(KEY_PREFIX));
  const forget = async () => {
    for (const key of await keys()) await cache.delete(key);
  };
  return {
    async storedId() {
      const [key] = await keys();
      return key === undefined ? null : decodeURIComponent(key.slice(KEY_PREFIX.length));
    },
    async load(id) {
      const response = await cache.match(KEY_PREFIX + encodeURIComponent(id));
      if (response === undefined) return null;
      try {
        return await checkedData(decodeMessage(new Uint8Array(await response.arrayBuffer()), DATASET_ONLY));
      } catch {
        await forget();
        return null;
      }
    },
    async save(id, frame) {
      await forget();
      await cache.put(KEY_PREFIX + encodeURIComponent(id), new Response(frame, { headers: { 'content-type': 'application/octet-stream' } }));
    },
    forget,
  };
}

/** The message's two splits, refused (DatasetRefused) unless they hash to the id it announces. */
export async function checkedData(message: DatasetMessage): Promise<WorkerData> {
  const common = { channels: 1, height: message.height, width: message.width, classes: 10 };
  const train = createDataset({ name: 'received-train', pixels: message.trainPixels, labels: message.trainLabels, ...common });
  const test = createDataset({ name: 'received-test', pixels: message.testPixels, labels: message.testLabels, ...common });
  const id = datasetId(await hashDataset(train), await hashDataset(test));
  if (id !== message.hash) throw new DatasetRefused(`received dataset hashes to ${id}, the coordinator announced ${message.hash}`);
  return { train, test };
}

/**
 * core's datasetHash (packages/core/src/data/dataset-hash.ts, the definition) with the
 * browser's SubtleCrypto: SHA-256 of the tag, five little-endian uint32s, pixels, labels.
 * NOTE: core's uses node:crypto, synchronous; SubtleCrypto is async and hashes one buffer.
 */
async function hashDataset(dataset: Dataset): Promise<string> {
  const tag = new TextEncoder().encode('convoy-dataset-v1');
  const header = new DataView(new ArrayBuffer(20));
  [dataset.count, dataset.channels, dataset.height, dataset.width, dataset.classes].forEach((value, i) => header.setUint32(4 * i, value, true));
  const whole = new Uint8Array(tag.length + 20 + dataset.pixels.length + dataset.labels.length);
  whole.set(tag, 0);
  whole.set(new Uint8Array(header.buffer), tag.length);
  whole.set(dataset.pixels, tag.length + 20);
  whole.set(dataset.labels, tag.length + 20 + dataset.pixels.length);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', whole));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
