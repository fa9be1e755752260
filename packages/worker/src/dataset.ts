/**
 * Where a worker's images come from: the MNIST files on its own disk, or the `dataset`
 * message a coordinator sends to a worker without them. Either way the result carries the
 * id (both splits' hashes) that hello and welcome compare.
 */
import { createDataset, datasetId, type DatasetMessage } from '@convoy/core';
import { datasetHash, loadMnist } from '@convoy/core/node';
import type { WorkerData } from './compute.js';
import { WorkerError } from './errors.js';
import { shareData } from './threads/shared-data.js';

export interface IdentifiedData {
  readonly data: WorkerData;
  /** datasetId() of the two splits. */
  readonly id: string;
}

/**
 * The MNIST IDX files in `dataDir` (undefined = the bundled MNIST). `shared`: in
 * SharedArrayBuffers, for compute threads to read without a copy each.
 */
export function loadLocalData(dataDir: string | undefined, shared = false): IdentifiedData {
  const { train, test } = loadMnist(dataDir);
  const data = shared ? shareData({ train, test }) : { train, test };
  return { data, id: datasetId(datasetHash(train), datasetHash(test)) };
}

/** The coordinator's dataset, refused (DATASET_MISMATCH) unless it hashes to the id the message announces. */
export function receivedData(message: DatasetMessage, shared = false): IdentifiedData {
  const common = { channels: 1, height: message.height, width: message.width, classes: 10 };
  const train = createDataset({ name: 'received-train', pixels: message.trainPixels, labels: message.trainLabels, ...common });
  const test = createDataset({ name: 'received-test', pixels: message.testPixels, labels: message.testLabels, ...common });
  const id = datasetId(datasetHash(train), datasetHash(test));
  if (id !== message.hash) throw new WorkerError('DATASET_MISMATCH', `received dataset hashes to ${id}, the coordinator announced ${message.hash}`);
  return { data: shared ? shareData({ train, test }) : { train, test }, id };
}
