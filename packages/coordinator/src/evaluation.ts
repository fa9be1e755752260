/**
 * Evaluation rounds (validation at each epoch end, test at the end), spread over the
 * workers as a queue of chunks, forward only: loss, accuracy, confusion matrix and a few
 * misclassified images to show on the dashboard.
 */
import { addToConfusion, type Dataset, type MisclassifiedSample, type Split } from '@convoy/core';
import type { Scheduler } from './scheduler.js';

/** Misclassified validation images kept per epoch record. */
const MISCLASSIFIED_KEPT = 8;

export interface EvaluationResult {
  readonly count: number;
  readonly loss: number;
  readonly accuracy: number;
  /** classes x classes, row = true label, column = predicted. */
  readonly confusion: number[];
  readonly misclassified: MisclassifiedSample[];
}

/**
 * Replica runs: what a job that carries the parameters carries besides them (the optimizer
 * state and its update count), so the worker's replica is whole; read at send time.
 */
export type FullState = () => { readonly state: readonly Float32Array[]; readonly iterations: number };

export interface EvaluationRequest {
  readonly split: Split;
  /** Indices into the split's file. */
  readonly indices: Uint32Array;
  readonly dataset: Dataset;
  /** Parameter version and the live parameters (the scheduler sends them to workers whose copy is older). */
  readonly version: number;
  readonly params: Float32Array;
  /** Replica runs only. */
  readonly fullState?: FullState;
}

/** Resolves with null when the scheduler was cancelled (the run is stopping). */
export async function evaluateOnWorkers(scheduler: Scheduler, request: EvaluationRequest): Promise<EvaluationResult | null> {
  const { split, indices, dataset, version, params, fullState } = request;
  const pieces = await scheduler.run({
    kind: 'evaluate',
    length: indices.length,
    step: 0,
    version,
    message: (start, end, round, withParams) => ({
      type: 'evaluate',
      round,
      split,
      version,
      ...(withParams ? { params, ...fullState?.() } : {}),
      indices: indices.subarray(start, end),
    }),
  });
  if (pieces === null) return null;
  const classes = dataset.classes;
  const confusion = new Array<number>(classes * classes).fill(0);
  const misclassified: MisclassifiedSample[] = [];
  const imageSize = dataset.channels * dataset.height * dataset.width;
  let lossSum = 0;
  let correct = 0;
  for (const piece of pieces) {
    const answer = piece.answer;
    if (answer.type !== 'evaluation') throw new Error('evaluation round got a gradient answer');
    lossSum += answer.lossSum;
    correct += answer.correct;
    for (let i = 0; i < answer.count; i++) {
      const index = indices[piece.start + i]!;
      const label = dataset.labels[index]!;
      const predicted = answer.predictions[i]!;
      // parseMessage bounds a prediction by 255 only: one that is not a class counts as wrong.
      if (!addToConfusion(confusion, classes, label, predicted)) continue;
      if (predicted !== label && misclassified.length < MISCLASSIFIED_KEPT) {
        misclassified.push({ index, label, predicted, pixels: dataset.pixels.slice(index * imageSize, (index + 1) * imageSize) });
      }
    }
  }
  const count = indices.length;
  return { count, loss: lossSum / count, accuracy: correct / count, confusion, misclassified };
}
