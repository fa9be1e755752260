/**
 * What a run leaves in its folder: history.jsonl (one record per line), checkpoint.ckpt
 * (the newest checkpoint, replaced atomically) and, at the end, model.ckpt (the final
 * parameters in the same protobuf format).
 *
 * NOTE on the RNG: the checkpoint's rng_state is the shuffling RNG's state at the START
 * of the epoch in progress; on resume the epoch's permutation is drawn again from it and
 * batch_in_epoch says where in it to continue. So a checkpoint written at any step
 * boundary continues exactly.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  readCheckpoint,
  writeCheckpointAtomicSync,
  type Checkpoint,
  type Dataset,
  type MetricsRecord,
  type ModelSpec,
  type Optimizer,
  type RngState,
} from '@convoy/core';

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

export interface CheckpointInput extends RunPosition {
  readonly spec: ModelSpec;
  readonly params: Float32Array;
  readonly optimizer: Optimizer;
  readonly seed: number;
  readonly globalBatch: number;
  readonly datasetId: string;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly history: readonly MetricsRecord[];
}

/** Records as stored on disk: misclassified samples lose their pixels (they are in the dataset). */
export function storableRecord(record: MetricsRecord): MetricsRecord {
  if (record.kind !== 'epoch') return record;
  return {
    ...record,
    misclassified: record.misclassified.map(({ index, label, predicted }) => ({ index, label, predicted, pixels: new Uint8Array(0) })),
  };
}

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

function toJson(record: MetricsRecord): string {
  return JSON.stringify(storableRecord(record), (key, value) => (key === 'pixels' ? undefined : value));
}

export class RunFolder {
  /** NOTE: creates nothing: the folder appears with the first history write (resetHistory). */
  constructor(readonly dir: string) {}

  get checkpointPath(): string {
    return join(this.dir, CHECKPOINT_FILE);
  }

  hasCheckpoint(): boolean {
    return existsSync(this.checkpointPath);
  }

  /** Starts history.jsonl afresh with `records` (a new run: none; a resumed run: the checkpoint's). */
  resetHistory(records: readonly MetricsRecord[]): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, HISTORY_FILE), records.map((record) => `${toJson(record)}\n`).join(''));
  }

  appendHistory(record: MetricsRecord): void {
    appendFileSync(join(this.dir, HISTORY_FILE), `${toJson(record)}\n`);
  }

  writeCheckpoint(input: CheckpointInput, path = this.checkpointPath): void {
    const checkpoint: Checkpoint = {
      createdAt: new Date().toISOString(),
      modelSpec: input.spec,
      parameters: input.params,
      optimizer: {
        name: input.optimizer.name,
        config: input.optimizer.config,
        iterations: input.optimizer.iterations,
        state: input.optimizer.state,
      },
      epoch: input.epoch,
      step: input.step,
      batchInEpoch: input.batchInEpoch,
      // NOTE: Rng.state() words may come back as signed int32 (bit operations); the format wants uint32.
      rngState: input.rngState.map((word) => word >>> 0) as unknown as RngState,
      seed: input.seed,
      globalBatchSize: input.globalBatch,
      datasetHash: input.datasetId,
      settings: input.settings,
      history: input.history.map((record) => JSON.parse(toJson(record)) as unknown),
    };
    // Sync on purpose: a checkpoint is taken between steps, when nothing else is in flight.
    writeCheckpointAtomicSync(path, checkpoint);
  }

  writeFinalModel(input: CheckpointInput): void {
    this.writeCheckpoint(input, join(this.dir, MODEL_FILE));
  }

  readCheckpoint(): Checkpoint {
    return readCheckpoint(this.checkpointPath);
  }

  readHistory(): unknown[] {
    const path = join(this.dir, HISTORY_FILE);
    if (!existsSync(path)) return [];
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as unknown);
  }
}
