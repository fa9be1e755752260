/**
 * What a worker computes: gradient sums over a slice of a training step, and forward-only
 * evaluations, on its own copy of the model. The copy is refreshed only when a message
 * carries parameters (the coordinator sends them when the worker's version is stale).
 * ComputeEngine does it on the calling thread; threads/threaded-engine.ts spreads a slice
 * over N threads, each running a ComputeEngine of its own.
 */
import {
  createModel,
  gatherImages,
  scoreProbabilities,
  type Dataset,
  type EvaluateMessage,
  type EvaluationMessage,
  type GradientMessage,
  type Kernels,
  type Model,
  type ModelSpec,
  type StepMessage,
} from '@convoy/core';
import { WorkerError } from './errors.js';

export interface WorkerData {
  readonly train: Dataset;
  readonly test: Dataset;
}

/** The worker's compute, on its own thread (answers at once) or on threads (answers later). */
export interface Engine {
  readonly spec: ModelSpec;
  /** NOTE: the answer's gradient is a live view, overwritten by the next step: encode it before asking again. */
  step(message: StepMessage, decodeMs: number): GradientMessage | Promise<GradientMessage>;
  evaluate(message: EvaluateMessage): EvaluationMessage | Promise<EvaluationMessage>;
  /** Frees what the engine holds (its threads); later calls fail. */
  close(): Promise<void>;
}

/** Throws BAD_MODEL unless a model of `built`'s shape fits the coordinator's parameter count and the dataset's images. */
export function checkModelFits(built: { readonly paramCount: number; readonly inputShape: readonly number[] }, paramCount: number, data: WorkerData): void {
  if (built.paramCount !== paramCount) {
    throw new WorkerError('BAD_MODEL', `the coordinator's model has ${paramCount} parameters, this worker builds ${built.paramCount}`);
  }
  const [channels, height, width] = built.inputShape;
  if (channels !== data.train.channels || height !== data.train.height || width !== data.train.width) {
    throw new WorkerError('BAD_MODEL', `model input ${channels}x${height}x${width} does not match the dataset's images`);
  }
}

export class ComputeEngine implements Engine {
  readonly model: Model;
  /** Number of optimizer updates the local parameters reflect; -1 before the first parameters arrive. */
  private version = -1;
  private images: Float32Array;
  private labels: Uint8Array;
  private readonly imageSize: number;

  constructor(
    readonly spec: ModelSpec,
    readonly paramCount: number,
    private readonly data: WorkerData,
    kernels: Kernels,
  ) {
    this.model = createModel(spec, { kernels });
    checkModelFits(this.model, paramCount, data);
    const [channels, height, width] = this.model.inputShape;
    this.imageSize = channels * height * width;
    this.images = new Float32Array(0);
    this.labels = new Uint8Array(0);
  }

  /** Forward and backward over the slice; the answer holds sums, the coordinator divides. */
  step(message: StepMessage, decodeMs: number): GradientMessage {
    this.useParameters(message.version, message.params);
    const started = performance.now();
    const count = message.indices.length;
    const { images, labels } = this.gather(this.data.train, message.indices);
    const sum = this.model.gradientSum(images, labels, { training: true, dropoutSeeds: message.dropoutSeeds });
    return {
      type: 'gradient',
      step: message.step,
      round: message.round,
      count,
      lossSum: sum.lossSum,
      correct: sum.correct,
      // NOTE: sum.gradient is a live view overwritten by the next call; the encoder copies it into the frame at once.
      gradient: sum.gradient,
      computeMs: performance.now() - started,
      decodeMs,
    };
  }

  /** Forward only, dropout off: loss, accuracy and the predicted class of every image. */
  evaluate(message: EvaluateMessage): EvaluationMessage {
    this.useParameters(message.version, message.params);
    const started = performance.now();
    const dataset = message.split === 'train' ? this.data.train : this.data.test;
    const count = message.indices.length;
    const { images, labels } = this.gather(dataset, message.indices);
    const predictions = new Uint8Array(count);
    const { lossSum, correct } = scoreProbabilities(this.model.predict(images), labels, this.model.classes, predictions);
    return { type: 'evaluation', round: message.round, count, lossSum, correct, predictions, computeMs: performance.now() - started };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private useParameters(version: number, params: Float32Array | undefined): void {
    if (params !== undefined) {
      this.model.params.set(params);
      this.version = version;
    } else if (version !== this.version) {
      throw new WorkerError('STALE_PARAMETERS', `asked to use parameters version ${version}, holding ${this.version}`);
    }
  }

  private gather(dataset: Dataset, indices: Uint32Array): { images: Float32Array; labels: Uint8Array } {
    const count = indices.length;
    if (this.images.length < count * this.imageSize) {
      // The model copies images chunk by chunk into its own kernel buffers, so a plain array does here.
      this.images = new Float32Array(Math.max(count, (2 * this.images.length) / this.imageSize) * this.imageSize);
      this.labels = new Uint8Array(this.images.length / this.imageSize);
    }
    const images = this.images.subarray(0, count * this.imageSize);
    const labels = this.labels.subarray(0, count);
    gatherImages(dataset, indices, images);
    for (let n = 0; n < count; n++) labels[n] = dataset.labels[indices[n]!]!;
    return { images, labels };
  }
}
