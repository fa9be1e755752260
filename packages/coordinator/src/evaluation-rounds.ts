/**
 * The trainer's two evaluation rounds as metrics records: validation after each epoch (on the
 * training set's last validationSize images) and the test at the end. The trainer decides
 * when they run; evaluation.ts spreads the images over the workers.
 */
import type { Dataset, MetricsRecord, StepRecord } from '@convoy/core';
import type { CoordinatorOptions } from './defaults.js';
import { evaluateOnWorkers, type EvaluationResult, type FullState } from './evaluation.js';
import type { Scheduler } from './scheduler.js';

/** The model to evaluate: its parameters at `version` (the step count), and who hands out the work. */
export interface ModelVersion {
  readonly scheduler: Scheduler;
  readonly version: number;
  readonly params: Float32Array;
  /** Replica runs: the optimizer state sent with the parameters. */
  readonly fullState?: FullState;
}

/** Validation on the training set's last options.validationSize images. Null when stopping midway. */
export async function validate(model: ModelVersion, options: CoordinatorOptions, train: Dataset): Promise<EvaluationResult | null> {
  const validationStart = train.count - options.validationSize;
  const indices = Uint32Array.from({ length: options.validationSize }, (_, i) => validationStart + i);
  if (indices.length === 0) return { count: 0, loss: 0, accuracy: 0, confusion: [], misclassified: [] };
  return evaluateOnWorkers(model.scheduler, { split: 'train', indices, dataset: train, version: model.version, params: model.params, ...(model.fullState === undefined ? {} : { fullState: model.fullState }) });
}

/** The 'epoch' record of 1-based `epoch`: the training figures of its `steps` (not empty), weighted by images, and its validation. */
export function epochRecord(epoch: number, step: number, steps: readonly StepRecord[], validation: EvaluationResult, elapsedSeconds: number): MetricsRecord {
  const images = steps.reduce((sum, record) => sum + record.images, 0);
  return {
    kind: 'epoch',
    epoch,
    step,
    trainLoss: steps.reduce((sum, record) => sum + record.loss * record.images, 0) / images,
    trainAccuracy: steps.reduce((sum, record) => sum + record.accuracy * record.images, 0) / images,
    validationLoss: validation.loss,
    validationAccuracy: validation.accuracy,
    confusion: validation.confusion,
    misclassified: validation.misclassified,
    elapsedSeconds,
    time: Date.now(),
  };
}

/** The 'test' record on the test set's first options.testSize images (at most all of them). Null when stopping midway. */
export async function testRecord(model: ModelVersion, options: CoordinatorOptions, test: Dataset): Promise<MetricsRecord | null> {
  const count = Math.min(options.testSize, test.count);
  const indices = Uint32Array.from({ length: count }, (_, i) => i);
  const result = await evaluateOnWorkers(model.scheduler, { split: 'test', indices, dataset: test, version: model.version, params: model.params, ...(model.fullState === undefined ? {} : { fullState: model.fullState }) });
  if (result === null) return null;
  return { kind: 'test', step: model.version, loss: result.loss, accuracy: result.accuracy, count, time: Date.now() };
}
