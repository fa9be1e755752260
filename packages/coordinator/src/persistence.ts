/**
 * What a run leaves in its folder: history.jsonl (one record per line), checkpoint.ckpt
 * (the newest checkpoint, replaced atomically; it records how many bytes of history.jsonl
 * belong to it, not the history itself) and, at the end, model.ckpt (the final parameters
 * in the same protobuf format). This module maps the run to those records and formats;
 * run-folder.ts reads and writes the files.
 *
 * NOTE on the RNG: the checkpoint's rng_state is the shuffling RNG's state at the START
 * of the epoch in progress; on resume the epoch's permutation is drawn again from it and
 * batch_in_epoch says where in it to continue. So a checkpoint written at any step
 * boundary continues exactly.
 */
import {
  type Dataset,
  type EpochRecord,
  type MetricsRecord,
  type MisclassifiedSample,
  type Model,
  type Optimizer,
  type RngState,
} from '@convoy/core';
import type { Checkpoint } from '@convoy/core/node';
import { settingsOf, type TrainingOptions } from './defaults.js';

export const HISTORY_FILE = 'history.jsonl';
export const CHECKPOINT_FILE = 'checkpoint.ckpt';
export const MODEL_FILE = 'model.ckpt';

/** The position a checkpoint records: the next step to run. */
export interface RunPosition {
  /** Epoch in progress, 0-based. */
  readonly epoch: number;
  /** Next global batch of that epoch. */
  readonly batchInEpoch: number;
  /** Steps completed. */
  readonly step: number;
  /** Shuffling RNG at the start of `epoch`. */
  readonly rngState: RngState;
}

export interface RunState {
  readonly options: TrainingOptions;
  readonly model: Model;
  readonly optimizer: Optimizer;
  readonly datasetId: string;
  /** Bytes of history.jsonl that belong to the run so far (RunFolder.historyBytes). */
  readonly historyBytes: number;
  /** Training time so far, over every resumed part of the run. */
  readonly elapsedSeconds: number;
}

/**
 * The run at `position` in core's checkpoint format. The parameters and optimizer state are
 * copied: the copy is written while the next steps change the originals.
 */
export function checkpointOf(run: RunState, position: RunPosition): Checkpoint {
  const { options, model, optimizer } = run;
  return {
    createdAt: new Date().toISOString(),
    modelSpec: options.spec,
    parameters: model.params.slice(),
    optimizer: {
      name: optimizer.name,
      config: { ...optimizer.config },
      iterations: optimizer.iterations,
      state: Object.fromEntries(Object.entries(optimizer.state).map(([name, array]) => [name, array.slice()])),
    },
    epoch: position.epoch,
    step: position.step,
    batchInEpoch: position.batchInEpoch,
    // NOTE: Rng.state() words may come back as signed int32 (bit operations); the format wants uint32.
    rngState: position.rngState.map((word) => word >>> 0) as unknown as RngState,
    seed: options.seed,
    globalBatchSize: options.globalBatch,
    datasetHash: run.datasetId,
    settings: { ...settingsOf(options), elapsedSeconds: run.elapsedSeconds },
    historyBytes: run.historyBytes,
    history: [],
  };
}

/**
 * A record as stored on disk (history.jsonl and a checkpoint's history): misclassified samples
 * lose their pixels (they are in the dataset, by index).
 */
export function storableRecord(record: MetricsRecord): MetricsRecord | StoredEpochRecord {
  if (record.kind !== 'epoch') return record;
  return { ...record, misclassified: record.misclassified.map(({ index, label, predicted }) => ({ index, label, predicted })) };
}

export type StoredEpochRecord = Omit<EpochRecord, 'misclassified'> & { readonly misclassified: Omit<MisclassifiedSample, 'pixels'>[] };

/**
 * The inverse for a resumed run: misclassified samples get their pixels back from the
 * training file by index (a snapshot must carry them: parseMessage refuses a sample without).
 */
export function withPixels(record: MetricsRecord, train: Dataset): MetricsRecord {
  if (record.kind !== 'epoch') return record;
  const imageSize = train.channels * train.height * train.width;
  return {
    ...record,
    misclassified: record.misclassified
      .filter(({ index }) => Number.isInteger(index) && index >= 0 && index < train.count)
      .map(({ index, label, predicted }) => ({ index, label, predicted, pixels: train.pixels.slice(index * imageSize, (index + 1) * imageSize) })),
  };
}
