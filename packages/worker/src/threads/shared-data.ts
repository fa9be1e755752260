/**
 * The worker's datasets in SharedArrayBuffers, so its compute threads read the one copy
 * (MNIST: 47 MB of training pixels) instead of each holding its own. A Dataset crosses to
 * a thread as a handle (the buffers and the shape); the thread views the same memory.
 */
import { createDataset, type Dataset } from '@convoy/core';
import type { WorkerData } from '../compute.js';

/** What a thread needs to view a shared dataset (structured-clonable; the buffers are shared, not copied). */
export interface SharedDatasetHandle {
  readonly name: string;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly classes: number;
  readonly pixels: SharedArrayBuffer;
  readonly labels: SharedArrayBuffer;
}

export interface SharedWorkerData {
  readonly train: SharedDatasetHandle;
  readonly test: SharedDatasetHandle;
}

/** A copy of `bytes` in shared memory, or `bytes` itself when it already is. */
function sharedBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.buffer instanceof SharedArrayBuffer) return bytes;
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
  shared.set(bytes);
  return shared;
}

/** The dataset with its pixels and labels in shared memory (copied once; already shared ones are kept). */
export function shareDataset(dataset: Dataset): Dataset {
  return { ...dataset, pixels: sharedBytes(dataset.pixels), labels: sharedBytes(dataset.labels) };
}

export function shareData(data: WorkerData): WorkerData {
  return { train: shareDataset(data.train), test: shareDataset(data.test) };
}

function handleOf(dataset: Dataset): SharedDatasetHandle {
  const { pixels, labels } = dataset;
  if (!(pixels.buffer instanceof SharedArrayBuffer) || !(labels.buffer instanceof SharedArrayBuffer)) {
    throw new TypeError(`${dataset.name}: not in shared memory (shareData first)`);
  }
  // NOTE: a handle carries whole buffers: views that do not start at 0 or end early would be lost.
  if (pixels.byteOffset !== 0 || pixels.byteLength !== pixels.buffer.byteLength || labels.byteOffset !== 0 || labels.byteLength !== labels.buffer.byteLength) {
    throw new TypeError(`${dataset.name}: shared arrays must fill their buffers`);
  }
  const { name, channels, height, width, classes } = dataset;
  return { name, channels, height, width, classes, pixels: pixels.buffer, labels: labels.buffer };
}

/** Handles of data already shared (shareData). */
export function sharedHandles(data: WorkerData): SharedWorkerData {
  return { train: handleOf(data.train), test: handleOf(data.test) };
}

/** A thread's view of a shared dataset: the same memory, checked like any dataset. */
export function openSharedDataset(handle: SharedDatasetHandle): Dataset {
  const { pixels, labels, ...shape } = handle;
  return createDataset({ ...shape, pixels: new Uint8Array(pixels), labels: new Uint8Array(labels) });
}
