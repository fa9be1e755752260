/**
 * The training loop of DESIGN.md "One training step": the coordinator owns the parameters
 * and the optimizer state; each step's global batch goes out in slices, the gradient sums
 * come back and are added in slice order, divided by the batch size, and applied.
 * Validation after every epoch, test at the end, checkpoints at step boundaries.
 */
import { EventEmitter } from 'node:events';
import { Rng, createOptimizer, mixSeed, type Dataset, type Model, type Optimizer, type RngState, type StepRecord } from '@convoy/core';
import type { CoordinatorOptions, TrainingOptions } from './defaults.js';
import { evaluateOnWorkers } from './evaluation.js';
import type { CoordinatorServer } from './server.js';
import type { CheckpointInput, RunFolder, RunPosition } from './persistence.js';

/** Where the shuffling stream and the dropout stream branch off the run's seed. */
const SHUFFLE_STREAM = 0x73687566; // "shuf"
const DROPOUT_STREAM = 0x64726f70; // "drop"

export type TrainOutcome = 'finished' | 'stopped';

/** One step's time split, for the scale benchmark (milliseconds; bytes). */
export interface StepTiming {
  readonly step: number;
  readonly images: number;
  readonly workers: number;
  readonly stepMs: number;
  /** Longest worker compute (it sets the step's pace), the mean over the answers, and the mean of the workers' frame decode. */
  readonly computeMs: number;
  readonly meanComputeMs: number;
  readonly workerDecodeMs: number;
  /** Coordinator: encoding step frames, decoding+validating answers, summing, optimizer. */
  readonly encodeMs: number;
  readonly decodeMs: number;
  readonly sumMs: number;
  readonly optimizerMs: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
}

export interface TrainerEvents {
  timing: [StepTiming];
}

export interface TrainerSetup {
  readonly options: CoordinatorOptions;
  readonly model: Model;
  readonly optimizer: Optimizer;
  readonly train: Dataset;
  readonly test: Dataset;
  readonly datasetId: string;
  readonly server: CoordinatorServer;
  readonly folder: RunFolder;
  /** Where to start: step 0 of a fresh run, or a checkpoint's position. */
  readonly position: RunPosition | null;
  readonly elapsedBefore: number;
}

export class Trainer extends EventEmitter<TrainerEvents> {
  private stopRequested = false;
  private readonly startedAt = performance.now();
  private step: number;
  private epoch = 0;
  private batchInEpoch = 0;
  private rngAtEpochStart: RngState;
  private readonly gradient: Float32Array;
  private imagesSeen = 0;
  /** The configured learning rate; epoch e uses baseRate * lrDecay^floor(e / lrDecayEvery). */
  private readonly baseRate: number;

  constructor(private readonly setup: TrainerSetup) {
    super();
    const position = setup.position;
    this.step = position?.step ?? 0;
    this.epoch = position?.epoch ?? 0;
    this.batchInEpoch = position?.batchInEpoch ?? 0;
    this.rngAtEpochStart = position?.rngState ?? new Rng(mixSeed(setup.options.seed, SHUFFLE_STREAM)).state();
    this.gradient = setup.model.kernels.allocate(setup.model.paramCount);
    this.imagesSeen = setup.server.metrics.steps.at(-1)?.imagesSeen ?? 0;
    // NOTE: the optimizer is always built from the run's initial config (also on resume), so this is the initial rate.
    this.baseRate = setup.optimizer.config.learningRate;
  }

  static createOptimizer(options: TrainingOptions, model: Model): Optimizer {
    return createOptimizer(options.optimizer, model.kernels, model.paramCount);
  }

  /** Ctrl-C: finish the current step, checkpoint, stop. */
  requestStop(): void {
    this.stopRequested = true;
    if (this.setup.server.liveCount() === 0) this.setup.server.scheduler.cancel();
  }

  get stepsPerEpoch(): number {
    return Math.ceil(this.setup.options.trainSize / this.setup.options.globalBatch);
  }

  get totalSteps(): number {
    const all = this.stepsPerEpoch * this.setup.options.epochs;
    return this.setup.options.maxSteps > 0 ? Math.min(all, this.setup.options.maxSteps) : all;
  }

  get completedSteps(): number {
    return this.step;
  }

  async run(): Promise<TrainOutcome> {
    const { options, server } = this.setup;
    await Promise.race([server.waitForWorkers(Math.max(1, options.minWorkers)), this.untilStopped()]);
    if (this.stopRequested) return this.stop();
    const { lrDecay: decay, lrDecayEvery: every } = options;
    while (this.epoch < options.epochs && this.step < this.totalSteps) {
      const rng = Rng.fromState(this.rngAtEpochStart);
      const permutation = rng.permutation(options.trainSize);
      this.setup.optimizer.setLearningRate(this.baseRate * decay ** Math.floor(this.epoch / every));
      const epochSteps: StepRecord[] = [];
      while (this.batchInEpoch < this.stepsPerEpoch && this.step < this.totalSteps) {
        if (this.stopRequested) return this.stop();
        const start = this.batchInEpoch * options.globalBatch;
        const indices = permutation.subarray(start, Math.min(start + options.globalBatch, options.trainSize));
        const record = await this.trainStep(indices);
        if (record === null) return this.stop();
        epochSteps.push(record);
        this.batchInEpoch++;
        if (options.checkpointEvery > 0 && this.step % options.checkpointEvery === 0) this.checkpoint();
      }
      if (!(await this.endEpoch(epochSteps))) return this.stop();
      if (this.batchInEpoch === this.stepsPerEpoch) {
        this.epoch++;
        this.batchInEpoch = 0;
        this.rngAtEpochStart = rng.state();
      }
      this.checkpoint();
    }
    return this.finish();
  }

  private untilStopped(): Promise<void> {
    return new Promise((resolve) => {
      const check = setInterval(() => this.stopRequested && (clearInterval(check), resolve()), 100);
      this.setup.server.waitForWorkers(Math.max(1, this.setup.options.minWorkers)).then(() => clearInterval(check));
    });
  }

  /** One synchronous step; null when the scheduler was cancelled (stopping with no worker left). */
  private async trainStep(indices: Uint32Array): Promise<StepRecord | null> {
    const { model, optimizer, server, options } = this.setup;
    const step = this.step + 1;
    const version = this.step;
    server.currentStep = step;
    const dropoutSeeds = new Uint32Array(indices.length);
    const dropoutBase = mixSeed(options.seed, DROPOUT_STREAM, step);
    for (let i = 0; i < indices.length; i++) dropoutSeeds[i] = mixSeed(dropoutBase, i);
    const before = server.counters();
    const started = performance.now();
    const pieces = await server.scheduler.run({
      kind: 'step',
      length: indices.length,
      step,
      message: (start, end, round, peer) => ({
        type: 'step',
        step,
        round,
        epoch: this.epoch + 1,
        version,
        ...(peer.version === version ? {} : { params: model.params }),
        indices: indices.subarray(start, end),
        dropoutSeeds: dropoutSeeds.subarray(start, end),
      }),
    });
    if (pieces === null) return null;
    const gathered = performance.now();
    // Sum in slice order (pieces are sorted by position), then the mean over the global batch.
    const gradient = this.gradient;
    let lossSum = 0;
    let correct = 0;
    let computeMs = 0;
    let meanComputeMs = 0;
    let workerDecodeMs = 0;
    // `counted` is what history.jsonl records as the step's images: the answers' own counts,
    // so a slice summed twice or lost would show there (tests/hardening checks it).
    let counted = 0;
    for (const [i, piece] of pieces.entries()) {
      const answer = piece.answer;
      if (answer.type !== 'gradient') throw new Error('training step got an evaluation answer');
      if (piece.start !== counted) throw new Error(`step ${step}: slices do not tile the batch (a slice starts at ${piece.start}, expected ${counted})`);
      counted += answer.count;
      if (i === 0) gradient.set(answer.gradient);
      else addInto(gradient, answer.gradient);
      lossSum += answer.lossSum;
      correct += answer.correct;
      computeMs = Math.max(computeMs, answer.computeMs);
      meanComputeMs += answer.computeMs / pieces.length;
      workerDecodeMs += answer.decodeMs / pieces.length;
    }
    const summed = performance.now();
    model.kernels.scale(gradient.length, gradient, 1 / indices.length);
    optimizer.apply(model.params, gradient);
    const applied = performance.now();
    this.step = step;
    this.imagesSeen += indices.length;
    const after = server.counters();
    const stepMs = applied - started;
    const workers = new Set(pieces.map((piece) => piece.workerId)).size;
    this.emit('timing', {
      step,
      images: indices.length,
      workers,
      stepMs,
      computeMs,
      meanComputeMs,
      workerDecodeMs,
      encodeMs: after.encodeMs - before.encodeMs,
      decodeMs: after.decodeMs - before.decodeMs,
      sumMs: summed - gathered,
      optimizerMs: applied - summed,
      bytesOut: after.bytesOut - before.bytesOut,
      bytesIn: after.bytesIn - before.bytesIn,
    });
    const record: StepRecord = {
      kind: 'step',
      step,
      epoch: this.epoch + 1,
      loss: lossSum / indices.length,
      accuracy: correct / indices.length,
      images: counted,
      imagesSeen: this.imagesSeen,
      imagesPerSecond: (1000 * indices.length) / stepMs,
      learningRate: optimizer.learningRate,
      stepMs,
      workers,
      time: Date.now(),
    };
    this.publish(record);
    return record;
  }

  /** Validation of the epoch just ended (or cut short by maxSteps). False when stopping midway. */
  private async endEpoch(steps: readonly StepRecord[]): Promise<boolean> {
    const { options, train } = this.setup;
    if (steps.length === 0) return true;
    const validationStart = train.count - options.validationSize;
    const indices = Uint32Array.from({ length: options.validationSize }, (_, i) => validationStart + i);
    const result =
      indices.length === 0
        ? { count: 0, loss: 0, accuracy: 0, confusion: [], misclassified: [] }
        : await evaluateOnWorkers(this.setup.server.scheduler, { split: 'train', indices, dataset: train, version: this.step, params: this.setup.model.params });
    if (result === null) return false;
    const images = steps.reduce((sum, record) => sum + record.images, 0);
    this.publish({
      kind: 'epoch',
      epoch: this.epoch + 1,
      step: this.step,
      trainLoss: steps.reduce((sum, record) => sum + record.loss * record.images, 0) / images,
      trainAccuracy: steps.reduce((sum, record) => sum + record.accuracy * record.images, 0) / images,
      validationLoss: result.loss,
      validationAccuracy: result.accuracy,
      confusion: result.confusion,
      misclassified: result.misclassified,
      elapsedSeconds: this.elapsedSeconds(),
      time: Date.now(),
    });
    return true;
  }

  private async finish(): Promise<TrainOutcome> {
    const { options, test, server, folder } = this.setup;
    if (options.testSize > 0) {
      const count = Math.min(options.testSize, test.count);
      const indices = Uint32Array.from({ length: count }, (_, i) => i);
      const result = await evaluateOnWorkers(server.scheduler, { split: 'test', indices, dataset: test, version: this.step, params: this.setup.model.params });
      if (result === null) return this.stop();
      this.publish({ kind: 'test', step: this.step, loss: result.loss, accuracy: result.accuracy, count, time: Date.now() });
    }
    this.publish({ kind: 'end', reason: 'finished', step: this.step, detail: `${this.step} steps`, time: Date.now() });
    this.checkpoint();
    folder.writeFinalModel(this.checkpointInput());
    return 'finished';
  }

  private stop(): TrainOutcome {
    this.publish({ kind: 'end', reason: 'stopped', step: this.step, detail: 'stopped by request; resume with --resume', time: Date.now() });
    this.checkpoint();
    return 'stopped';
  }

  private elapsedSeconds(): number {
    return this.setup.elapsedBefore + (performance.now() - this.startedAt) / 1000;
  }

  private publish(record: Parameters<CoordinatorServer['metrics']['publish']>[0]): void {
    this.setup.server.metrics.publish(record);
  }

  checkpointInput(): CheckpointInput {
    const { options, model, optimizer, datasetId, server } = this.setup;
    const metrics = server.metrics;
    const history = [...metrics.steps, ...metrics.epochs, ...metrics.events, ...(metrics.test ? [metrics.test] : [])].sort((a, b) => a.time - b.time);
    return {
      epoch: this.epoch,
      batchInEpoch: this.batchInEpoch,
      step: this.step,
      rngState: this.rngAtEpochStart,
      spec: options.spec,
      params: model.params,
      optimizer,
      seed: options.seed,
      globalBatch: options.globalBatch,
      datasetId,
      settings: { ...settingsOf(options), elapsedSeconds: this.elapsedSeconds() },
      history,
    };
  }

  private checkpoint(): void {
    this.setup.folder.writeCheckpoint(this.checkpointInput());
  }
}

/** target += source, elementwise. NOTE: kept monomorphic and tiny so the JIT makes it a tight loop (~1 ms for 1.2M floats). */
function addInto(target: Float32Array, source: Float32Array): void {
  const length = target.length;
  for (let i = 0; i < length; i++) target[i] = target[i]! + source[i]!;
}

/** The options a resumed run takes from its checkpoint (everything that shapes the result). */
export function settingsOf(options: TrainingOptions): Record<string, unknown> {
  const { spec, optimizer, lrDecay, lrDecayEvery, epochs, globalBatch, seed, trainSize, validationSize, testSize, maxSteps } = options;
  return { spec, optimizer, lrDecay, lrDecayEvery, epochs, globalBatch, seed, trainSize, validationSize, testSize, maxSteps };
}
