/**
 * The training loop of DESIGN.md "One training step": the coordinator owns the parameters
 * and the optimizer state; each step's global batch goes out in slices, the gradient sums
 * come back and are added in slice order, divided by the batch size, and applied.
 * Validation after every epoch, test at the end, checkpoints at step boundaries.
 *
 * The trainer is given its collaborators (scheduler, worker pool, metrics, checkpoint store)
 * and touches no socket; step timing is left to observers (step-timing.ts).
 */
import {
  clipDetail,
  Rng,
  createOptimizer,
  mixSeed,
  type Dataset,
  type MetricsRecord,
  type Model,
  type Optimizer,
  type ReplicaArrays,
  type RngState,
  type StateStorage,
  type StepRecord,
} from '@convoy/core';
import type { Checkpoint } from '@convoy/core/node';
import type { CoordinatorOptions, TrainingOptions } from './defaults.js';
import { CheckpointWriter } from './checkpoint-writer.js';
import { epochRecord, testRecord, validate, type ModelVersion } from './evaluation-rounds.js';
import { sumInSliceOrder } from './gradient-sum.js';
import type { MetricsHub } from './metrics.js';
import { checkpointOf, type RunPosition } from './persistence.js';
import { ReplicaUpdates, type ExpectedHash } from './replica-updates.js';
import { learningRateSchedule, type SchedulePosition } from './schedule.js';
import type { Piece, Scheduler } from './scheduler.js';
import { dropoutSeedsOf, stepJob } from './step-job.js';
import type { StepLinks } from './step-links.js';
import type { StepObserver } from './step-timing.js';

/**
 * How long a requested stop waits for the step (or evaluation) in progress, in ms. Past it the
 * job is abandoned and the run stops at the last completed step: a silent or SIGSTOPped
 * worker must not hold Ctrl-C or SIGTERM hostage until its deadline.
 */
export const STOP_WAIT_MS = 3_000;

/** Where the shuffling stream branches off the run's seed. */
export const SHUFFLE_STREAM = 0x73687566; // "shuf"

export type TrainOutcome = 'finished' | 'stopped';

/** A step whose slices are out: its answers to come, and the replica hash they are checked against. */
interface SentStep {
  readonly step: number;
  readonly pieces: Promise<Piece[] | null>;
  readonly expected: ExpectedHash | null;
}

/** The live workers, as far as the trainer needs them. */
export interface WorkerPool {
  liveCount(): number;
  /** Resolves when at least `count` workers are live. */
  waitForWorkers(count: number): Promise<void>;
}

/** Where checkpoints go (RunFolder; an in-memory store in tests). */
export interface CheckpointStore {
  /** The position in the run's history a checkpoint taken now records (bytes of history.jsonl). */
  readonly historyBytes: number;
  /** Rejects when the checkpoint could not be written (the run then fails; the previous one stays). */
  writeCheckpoint(checkpoint: Checkpoint): Promise<void>;
  writeFinalModel(checkpoint: Checkpoint): Promise<void>;
}

export interface TrainerSetup {
  readonly options: CoordinatorOptions;
  readonly model: Model;
  readonly optimizer: Optimizer;
  readonly train: Dataset;
  readonly test: Dataset;
  readonly datasetId: string;
  readonly scheduler: Scheduler;
  readonly workers: WorkerPool;
  readonly metrics: MetricsHub;
  readonly store: CheckpointStore;
  /** Where to start: step 0 of a fresh run, or a checkpoint's position. */
  readonly position: RunPosition | null;
  readonly elapsedBefore: number;
  /** Bytes per step per worker link, for the step records (absent: records without them). */
  readonly links?: StepLinks;
  /** Replica runs: the arrays the model's parameters and the optimizer's state live in, when they do (coordinatorReplica). */
  readonly replica?: ReplicaArrays | null;
}

export class Trainer {
  private readonly stopper = new AbortController();
  private readonly observers: StepObserver[] = [];
  private readonly startedAt = performance.now();
  private step: number;
  /** The step being computed (or the last one done, between steps): event records carry it. */
  private stepInProgress: number;
  private epoch = 0;
  private batchInEpoch = 0;
  private rngAtEpochStart: RngState;
  private readonly gradient: Float32Array;
  private imagesSeen = 0;
  /** The learning rate of each step, from the run's initial rate (schedule.ts). */
  private readonly rateAt: (position: SchedulePosition) => number;
  /** An `end` record went out (a failure after it must not publish a second one). */
  private ended = false;
  /** Why the run must end at the next step boundary (a failed write: a full disk), set once. */
  private failure: Error | null = null;
  private readonly checkpoints: CheckpointWriter;
  /** Replica runs (--wire bf16/topk); null for fp32, where the optimizer applies the update. */
  private readonly replicas: ReplicaUpdates | null;
  /** --overlap: the next step, sent before this one's update (null: none in flight). */
  private ahead: SentStep | null = null;

  constructor(private readonly setup: TrainerSetup) {
    const position = setup.position;
    this.step = position?.step ?? 0;
    this.stepInProgress = this.step;
    this.epoch = position?.epoch ?? 0;
    this.batchInEpoch = position?.batchInEpoch ?? 0;
    this.rngAtEpochStart = position?.rngState ?? new Rng(mixSeed(setup.options.seed, SHUFFLE_STREAM)).state();
    this.checkpoints = new CheckpointWriter(setup.store, (error) => this.fail(error));
    this.gradient = setup.model.kernels.allocate(setup.model.paramCount);
    const codec = setup.options.wire;
    this.replicas = codec === 'fp32' ? null : new ReplicaUpdates(codec, setup.options.topkWarmupSteps ?? this.stepsPerEpoch, setup.model, setup.optimizer, setup.scheduler, (record) => this.publish(record), setup.options.overlap, setup.replica);
    this.imagesSeen = setup.metrics.lastStep?.imagesSeen ?? 0;
    // NOTE: the optimizer is always built from the run's initial config (also on resume), so this is the initial rate.
    this.rateAt = learningRateSchedule(setup.optimizer.config.learningRate, setup.options, this.stepsPerEpoch);
    // Stopping with no worker left: the step in progress cannot finish, so it is abandoned at
    // once; otherwise it gets STOP_WAIT_MS to finish (cancel() is a no-op between jobs).
    this.stopper.signal.addEventListener('abort', () => {
      if (setup.workers.liveCount() === 0) setup.scheduler.cancel();
      else setTimeout(() => setup.scheduler.cancel(), STOP_WAIT_MS).unref();
    });
  }

  static createOptimizer(options: TrainingOptions, model: Model, storage?: StateStorage): Optimizer {
    return createOptimizer(options.optimizer, model.kernels, model.paramCount, storage);
  }

  /** Ctrl-C: finish the current step (within STOP_WAIT_MS, else abandon it), checkpoint, stop. */
  requestStop(): void {
    this.stopper.abort();
  }

  /**
   * Something the run cannot go on without failed (e.g. history.jsonl hit ENOSPC): finish the
   * current step, write no further checkpoint (the last good one stays), and make run() reject
   * with `error` (end record 'failed' where it can still be written).
   */
  fail(error: Error): void {
    this.failure ??= error;
    this.stopper.abort();
  }

  /** Adds an observer of every step from now on (e.g. a StepTimer). */
  observe(observer: StepObserver): void {
    this.observers.push(observer);
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

  get currentStep(): number {
    return this.stepInProgress;
  }

  /**
   * Trains to the end (or until requestStop). A failure (e.g. BAD_ANSWERS: a diverged model)
   * publishes an `end` record with reason 'failed' and rejects with the error.
   */
  async run(): Promise<TrainOutcome> {
    try {
      return await this.loop();
    } catch (error) {
      if (!this.ended) this.end('failed', (error as Error).message);
      throw error;
    }
  }

  private async loop(): Promise<TrainOutcome> {
    const { options, workers } = this.setup;
    const signal = this.stopper.signal;
    await Promise.race([workers.waitForWorkers(options.minWorkers), aborted(signal)]);
    if (signal.aborted) return this.stop();
    while (this.epoch < options.epochs && this.step < this.totalSteps) {
      const rng = Rng.fromState(this.rngAtEpochStart);
      const permutation = rng.permutation(options.trainSize);
      const epochSteps: StepRecord[] = [];
      while (this.batchInEpoch < this.stepsPerEpoch && this.step < this.totalSteps) {
        if (signal.aborted) return this.stop();
        const batch = (inEpoch: number) => permutation.subarray(inEpoch * options.globalBatch, Math.min((inEpoch + 1) * options.globalBatch, options.trainSize));
        this.setup.optimizer.setLearningRate(this.rateAt({ stepsDone: this.step, epoch: this.epoch }));
        const record = await this.trainStep(batch(this.batchInEpoch), this.runsAhead() ? batch(this.batchInEpoch + 1) : null);
        if (record === null) return this.stop();
        epochSteps.push(record);
        this.batchInEpoch++;
        if (options.checkpointEvery > 0 && this.step % options.checkpointEvery === 0) this.saveCheckpoint();
      }
      if (!(await this.endEpoch(epochSteps))) return this.stop();
      if (this.batchInEpoch === this.stepsPerEpoch) {
        this.epoch++;
        this.batchInEpoch = 0;
        this.rngAtEpochStart = rng.state();
      }
      this.saveCheckpoint();
    }
    return this.finish();
  }

  /**
   * Whether the step after the next one is sent ahead of it (--overlap, once `overlapAfter` steps
   * are done): not past the epoch's end (its validation sees the epoch's last update), the run's
   * last step, or a checkpoint (a run resumed from one then computes exactly what the run that
   * wrote it did).
   */
  private runsAhead(): boolean {
    const { options } = this.setup;
    const next = this.step + 1;
    const checkpointed = options.checkpointEvery > 0 && next % options.checkpointEvery === 0;
    const started = next > this.overlapAfter;
    return options.overlap && started && !this.stopper.signal.aborted && !checkpointed && this.batchInEpoch + 1 < this.stepsPerEpoch && next < this.totalSteps;
  }

  /** --overlap's synchronous start, in steps (the run's --overlap-after, or one epoch). */
  get overlapAfter(): number {
    return this.setup.options.overlapAfter ?? this.stepsPerEpoch;
  }

  /** Sends step `step`'s slices (the parameters of now: the coordinator's version `this.step`). */
  private send(step: number, indices: Uint32Array): SentStep {
    const { scheduler, model, options } = this.setup;
    const replicas = this.replicas;
    const dropoutSeeds = dropoutSeedsOf(options.seed, step, indices.length);
    const job = stepJob(step, this.epoch + 1, model.params, () => this.step, indices, dropoutSeeds, replicas?.job(step) ?? null);
    const expected = replicas?.expectedHash(this.step) ?? null;
    if (!options.overlap) return { step, pieces: scheduler.run(job), expected };
    const pieces = scheduler.runAhead(job);
    // NOTE: a step sent ahead may fail before it is awaited (the run's failure is read in order).
    pieces.catch(() => undefined);
    return { step, pieces, expected };
  }

  /**
   * One step: its slices' answers summed in slice order and applied. With `next` (--overlap), the
   * next step's slices go out first, computed with the parameters before this step's update, so
   * the workers compute them while this step's answers and update cross the network. Null when
   * the scheduler was cancelled (stopping with no worker left).
   */
  private async trainStep(indices: Uint32Array, next: Uint32Array | null): Promise<StepRecord | null> {
    const { model, optimizer } = this.setup;
    const step = this.step + 1;
    this.stepInProgress = step;
    this.setup.links?.stepStarted();
    for (const observer of this.observers) observer.stepStarted(step);
    const startedAt = performance.now();
    const replicas = this.replicas;
    const current = this.ahead?.step === step ? this.ahead : this.send(step, indices);
    this.ahead = next === null ? null : this.send(step + 1, next);
    const pieces = await current.pieces;
    if (pieces === null) return null;
    const gatheredAt = performance.now();
    const totals = sumInSliceOrder(pieces, this.gradient, step);
    const summedAt = performance.now();
    if (replicas !== null) replicas.apply(step, pieces, current.expected, this.gradient, indices.length);
    else {
      model.kernels.scale(this.gradient.length, this.gradient, 1 / indices.length);
      optimizer.apply(model.params, this.gradient);
    }
    const appliedAt = performance.now();
    this.step = step;
    this.imagesSeen += indices.length;
    const stepMs = appliedAt - startedAt;
    // NOTE: read here, not as an observer: observers run after the record is published.
    this.setup.links?.stepFinished();
    const record: StepRecord = {
      kind: 'step',
      step,
      epoch: this.epoch + 1,
      loss: totals.lossSum / indices.length,
      accuracy: totals.correct / indices.length,
      // What history.jsonl records as the step's images: the answers' own counts, so a slice
      // summed twice or lost would show there (tests/hardening checks it).
      images: totals.count,
      imagesSeen: this.imagesSeen,
      imagesPerSecond: (1000 * indices.length) / stepMs,
      learningRate: optimizer.learningRate,
      stepMs,
      workers: totals.workers,
      time: Date.now(),
      ...this.setup.links?.fields(),
    };
    this.setup.metrics.publish(record);
    const publishedAt = performance.now();
    for (const observer of this.observers) observer.stepFinished({ step, images: indices.length, pieces, startedAt, gatheredAt, summedAt, appliedAt, publishedAt });
    return record;
  }

  /** Validation of the epoch just ended (or cut short by maxSteps). False when stopping midway. */
  private async endEpoch(steps: readonly StepRecord[]): Promise<boolean> {
    if (steps.length === 0) return true;
    const result = await validate(this.modelVersion(), this.setup.options, this.setup.train);
    if (result === null) return false;
    this.publish(epochRecord(this.epoch + 1, this.step, steps, result, this.elapsedSeconds()));
    return true;
  }

  private async finish(): Promise<TrainOutcome> {
    const { options, test, store } = this.setup;
    if (options.testSize > 0) {
      const record = await testRecord(this.modelVersion(), options, test);
      if (record === null) return this.stop();
      this.publish(record);
    }
    if (this.failure !== null) throw this.failure;
    // Taken before the end record, so a resumed run's history.jsonl is cut back to before it.
    const checkpoint = this.checkpoint();
    this.end('finished', `${this.step} steps`);
    await this.writeLastCheckpoint(checkpoint);
    await store.writeFinalModel(checkpoint);
    return 'finished';
  }

  private modelVersion(): ModelVersion {
    const fullState = this.replicas?.fullState;
    return { scheduler: this.setup.scheduler, version: this.step, params: this.setup.model.params, ...(fullState === undefined ? {} : { fullState }) };
  }

  private async stop(): Promise<TrainOutcome> {
    // A step sent ahead is dropped: a resumed run sends it again, with the checkpoint's parameters.
    this.setup.scheduler.dropSteps();
    this.ahead = null;
    if (this.failure !== null) throw this.failure;
    const checkpoint = this.checkpoint();
    this.end('stopped', 'stopped by request; resume with --resume');
    await this.writeLastCheckpoint(checkpoint);
    return 'stopped';
  }

  private end(reason: 'finished' | 'stopped' | 'failed', detail: string): void {
    this.ended = true;
    this.publish({ kind: 'end', reason, step: this.step, detail: clipDetail(detail), time: Date.now() });
  }

  private elapsedSeconds(): number {
    return this.setup.elapsedBefore + (performance.now() - this.startedAt) / 1000;
  }

  private publish(record: MetricsRecord): void {
    this.setup.metrics.publish(record);
  }

  /** The run as it stands, at a step boundary, in core's checkpoint format (a copy: later steps do not change it). */
  checkpoint(): Checkpoint {
    const { options, model, optimizer, datasetId, store } = this.setup;
    const position = { epoch: this.epoch, batchInEpoch: this.batchInEpoch, step: this.step, rngState: this.rngAtEpochStart };
    return checkpointOf({ options, model, optimizer, datasetId, historyBytes: store.historyBytes, elapsedSeconds: this.elapsedSeconds() }, position);
  }

  /** A checkpoint taken now, at the step boundary, written off the step's path (checkpoint-writer.ts); none after a failure. */
  private saveCheckpoint(): void {
    if (this.failure === null) this.checkpoints.save(this.checkpoint());
  }

  /** The stop or finish checkpoint: waits for any write in flight, then writes `checkpoint` and waits for it. */
  private async writeLastCheckpoint(checkpoint: Checkpoint): Promise<void> {
    await this.checkpoints.idle();
    if (this.failure !== null) throw this.failure;
    await this.setup.store.writeCheckpoint(checkpoint);
  }
}

/** Resolves when `signal` aborts (at once if it has). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
