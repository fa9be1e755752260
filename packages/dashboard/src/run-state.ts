/**
 * What the page knows about the run, with no DOM: it takes the coordinator's `snapshot`
 * (on every (re)connection) and its `metrics` records, keeps the charts' series in
 * bounded memory, and answers the progress figures. The page renders from it a few
 * times a second; unit tests drive it directly.
 */
import type { EndRecord, EpochRecord, EventRecord, MetricsRecord, RunRecord, SnapshotMessage, StepRecord, TestRecord, TimingRecord, WorkerRow } from '@convoy/core';
import { BoundedSeries, type BoundedSeriesOptions } from './downsample.js';

/** Newest events kept (marks on the charts); older ones are dropped. */
export const MAX_EVENTS = 1_000;
/** Epochs whose misclassified pixels are kept (older ones keep labels only). */
export const EPOCHS_WITH_PIXELS = 10;
/** Newest steps' timing records kept (the timeline panel and the straggler scores). */
export const MAX_TIMINGS = 60;
/** Steps in the moving window of the images/s and ETA estimates. */
const RATE_WINDOW = 30;

/** 'interrupted': a past run (read from its folder) whose history has no end record: it was killed, or is running elsewhere. */
export type RunPhase = 'waiting' | 'training' | 'finished' | 'stopped' | 'failed' | 'interrupted';

export interface Progress {
  readonly phase: RunPhase;
  readonly epoch: number;
  readonly epochs: number;
  readonly step: number;
  readonly totalSteps: number;
  readonly imagesSeen: number;
  readonly imagesPerSecond: number;
  readonly elapsedSeconds: number;
  /** null while unknown (fewer than two steps timed) or when the run is over. */
  readonly etaSeconds: number | null;
}

export class RunState {
  run: RunRecord | null = null;
  readonly loss: BoundedSeries;
  readonly accuracy: BoundedSeries;
  readonly learningRate: BoundedSeries;
  epochs: EpochRecord[] = [];
  test: TestRecord | null = null;
  workers: WorkerRow[] = [];
  events: EventRecord[] = [];
  end: EndRecord | null = null;
  lastStep: StepRecord | null = null;
  /** The newest steps' timing records, oldest first (at most MAX_TIMINGS). */
  timings: TimingRecord[] = [];
  /**
   * A past run read from its folder: nothing more will come, so its clock stops at its
   * last record, and a history without an end record reads 'interrupted', not 'training'.
   */
  past = false;
  /** Bumped on every change: the page redraws only what changed since it last looked. */
  version = 0;
  /** Seconds of training before this coordinator process started (a resumed run). */
  private priorSeconds = 0;
  private readonly window: { time: number; step: number; imagesSeen: number }[] = [];

  constructor(seriesOptions: Partial<BoundedSeriesOptions> = {}) {
    this.loss = new BoundedSeries(seriesOptions);
    this.accuracy = new BoundedSeries(seriesOptions);
    this.learningRate = new BoundedSeries(seriesOptions);
  }

  /** Starts afresh from a snapshot (first connection and every reconnection). */
  reset(snapshot: Omit<SnapshotMessage, 'type'>): void {
    this.run = null;
    this.loss.clear();
    this.accuracy.clear();
    this.learningRate.clear();
    this.epochs = [];
    this.test = null;
    this.events = [];
    this.end = null;
    this.lastStep = null;
    this.window.length = 0;
    for (const step of snapshot.steps) this.addStep(step);
    for (const epoch of snapshot.epochs) this.addEpoch(epoch);
    for (const event of snapshot.events) this.addEvent(event);
    this.test = snapshot.test;
    this.end = snapshot.end;
    this.workers = [...snapshot.workers];
    this.timings = (snapshot.timings ?? []).slice(-MAX_TIMINGS);
    if (snapshot.run !== null) this.setRun(snapshot.run, snapshot.steps);
    this.version++;
  }

  apply(record: MetricsRecord): void {
    switch (record.kind) {
      case 'run':
        this.setRun(record, this.lastStep === null ? [] : [this.lastStep]);
        break;
      case 'step':
        this.addStep(record);
        break;
      case 'epoch':
        this.addEpoch(record);
        break;
      case 'test':
        this.test = record;
        break;
      case 'workers':
        this.workers = [...record.workers];
        break;
      case 'event':
        this.addEvent(record);
        break;
      case 'end':
        this.end = record;
        break;
      case 'timing':
        this.timings.push(record);
        if (this.timings.length > MAX_TIMINGS) this.timings.splice(0, this.timings.length - MAX_TIMINGS);
        break;
    }
    this.version++;
  }

  progress(now: number): Progress {
    const run = this.run;
    const last = this.lastStep;
    const phase: RunPhase = this.end !== null ? this.end.reason : this.past ? 'interrupted' : last === null ? 'waiting' : 'training';
    if (this.past) now = this.lastRecordTime();
    const step = last?.step ?? run?.resumedFromStep ?? 0;
    const totalSteps = run?.totalSteps ?? 0;
    const first = this.window[0];
    const newest = this.window.at(-1);
    let imagesPerSecond = last?.imagesPerSecond ?? 0;
    let secondsPerStep: number | null = null;
    if (first !== undefined && newest !== undefined && newest.time > first.time && newest.step > first.step) {
      imagesPerSecond = (1000 * (newest.imagesSeen - first.imagesSeen)) / (newest.time - first.time);
      secondsPerStep = (newest.time - first.time) / 1000 / (newest.step - first.step);
    }
    const until = this.end?.time ?? now;
    const elapsedSeconds = run === null ? 0 : this.priorSeconds + Math.max(0, until - run.startTime) / 1000;
    const running = phase === 'training';
    return {
      phase,
      epoch: last?.epoch ?? (this.epochs.at(-1)?.epoch ?? 0),
      epochs: run?.epochs ?? 0,
      step,
      totalSteps,
      imagesSeen: last?.imagesSeen ?? 0,
      imagesPerSecond,
      elapsedSeconds,
      etaSeconds: running && secondsPerStep !== null && totalSteps > 0 ? Math.max(0, totalSteps - step) * secondsPerStep : null,
    };
  }

  private lastRecordTime(): number {
    return Math.max(this.run?.startTime ?? 0, this.lastStep?.time ?? 0, this.epochs.at(-1)?.time ?? 0, this.test?.time ?? 0, this.events.at(-1)?.time ?? 0);
  }

  private setRun(run: RunRecord, steps: readonly StepRecord[]): void {
    this.run = run;
    this.priorSeconds = run.resumedFromStep > 0 ? estimatePriorSeconds(run.resumedFromStep, steps, this.epochs) : 0;
    // The rate is this process's: steps from before a restart would count the downtime.
    const fresh = this.window.filter((entry) => entry.step > run.resumedFromStep);
    this.window.splice(0, this.window.length, ...fresh);
  }

  private addStep(step: StepRecord): void {
    if (this.lastStep !== null && step.step <= this.lastStep.step) return; // a replayed record
    this.lastStep = step;
    this.loss.push(step.step, step.loss);
    this.accuracy.push(step.step, step.accuracy);
    this.learningRate.push(step.step, step.learningRate);
    // NOTE: a gap in time (a coordinator restart) would make a rate out of downtime: start the window anew.
    const previous = this.window.at(-1);
    if (previous !== undefined && step.time - previous.time > 60_000) this.window.length = 0;
    this.window.push({ time: step.time, step: step.step, imagesSeen: step.imagesSeen });
    if (this.window.length > RATE_WINDOW) this.window.shift();
  }

  private addEpoch(epoch: EpochRecord): void {
    if (this.epochs.some((known) => known.epoch === epoch.epoch && known.step === epoch.step)) return;
    this.epochs.push(epoch);
    const old = this.epochs.length - 1 - EPOCHS_WITH_PIXELS;
    const stale = this.epochs[old];
    if (stale !== undefined && stale.misclassified.some((sample) => sample.pixels.length > 0)) {
      this.epochs[old] = { ...stale, misclassified: stale.misclassified.map((sample) => ({ ...sample, pixels: new Uint8Array(0) })) };
    }
  }

  private addEvent(event: EventRecord): void {
    this.events.push(event);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    // The table updates within a second anyway; a death shows at once.
    if ((event.event === 'death' || event.event === 'leave') && event.workerId !== null) {
      this.workers = this.workers.map((row) => (row.id === event.workerId ? { ...row, state: 'gone' } : row));
    }
  }
}

/**
 * Training seconds before the restart that made `run` (the record carries only its own
 * process's start). From the last epoch record before the restart (which holds the
 * run's elapsed seconds) plus the steps after it; without one, the span of the steps.
 */
export function estimatePriorSeconds(resumedFromStep: number, steps: readonly StepRecord[], epochs: readonly EpochRecord[]): number {
  let resumeStep: StepRecord | undefined;
  let firstStep: StepRecord | undefined;
  for (const step of steps) {
    if (firstStep === undefined || step.step < firstStep.step) firstStep = step;
    if (step.step <= resumedFromStep && (resumeStep === undefined || step.step > resumeStep.step)) resumeStep = step;
  }
  const epoch = epochs.filter((record) => record.step <= resumedFromStep).at(-1);
  if (epoch !== undefined) return epoch.elapsedSeconds + Math.max(0, ((resumeStep?.time ?? epoch.time) - epoch.time) / 1000);
  if (resumeStep === undefined || firstStep === undefined) return 0;
  return (resumeStep.time - firstStep.time + firstStep.stepMs) / 1000;
}
