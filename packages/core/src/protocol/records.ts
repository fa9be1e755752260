/**
 * The metrics records: what a run publishes about itself, one record per fact (the run's
 * settings, each step, each epoch, the test, the worker table, events, the end). The
 * coordinator writes them to history.jsonl and sends them to dashboards inside `metrics`
 * and `snapshot` messages (messages.ts), so they are wire types too: parse-metrics.ts
 * checks every field before a dashboard trusts one.
 */
import type { ModelSpec } from '../spec.js';
import type { WorkerPhases } from './messages.js';

export interface RunRecord {
  readonly kind: 'run';
  readonly runId: string;
  readonly startTime: number;
  readonly spec: ModelSpec;
  readonly paramCount: number;
  /** The optimizer config with defaults filled in, e.g. {name:'adadelta', learningRate:1, rho:0.95, epsilon:1e-7}. */
  readonly optimizer: Readonly<Record<string, string | number | boolean>>;
  readonly globalBatch: number;
  readonly epochs: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly seed: number;
  readonly trainSize: number;
  readonly validationSize: number;
  readonly testSize: number;
  readonly kernels: string;
  /** Local worker processes started by `convoy start` (0 for a bare coordinator). */
  readonly localWorkers: number;
  /** Step the run resumed from (0 for a fresh run). */
  readonly resumedFromStep: number;
  readonly outDir: string;
  /** Workers training waits for (the dashboard's waiting page says so); absent from older records. */
  readonly minWorkers?: number;
  /** The command a worker joins with, as the coordinator prints it (e.g. `pnpm worker -- --connect ws://host:port`). */
  readonly joinCommand?: string;
  /** How parameters and gradients travel (`--wire`: fp32, bf16, a compressor); absent from older records (fp32). */
  readonly wire?: string;
  /** topk runs: the steps of the density warm-up (`--topk-warmup-steps`, default one epoch); absent otherwise. */
  readonly topkWarmupSteps?: number;
  /** `--overlap`: each step's slices go out before the previous step's update; absent otherwise. */
  readonly overlap?: boolean;
  /** --overlap runs: the steps run one at a time before it starts (`--overlap-after`, default one epoch). */
  readonly overlapAfter?: number;
}

export interface StepRecord {
  readonly kind: 'step';
  readonly step: number;
  readonly epoch: number;
  /** Mean loss and accuracy of this step's global batch (before the update). */
  readonly loss: number;
  readonly accuracy: number;
  /** Images in this step's global batch (every image counted once). */
  readonly images: number;
  /** Images seen since the start of the run, this step included. */
  readonly imagesSeen: number;
  readonly imagesPerSecond: number;
  readonly learningRate: number;
  /** Wall time of the step, from sending the slices to applying the update. */
  readonly stepMs: number;
  /** Workers that contributed. */
  readonly workers: number;
  readonly time: number;
  /** Bytes of the step's frames, all workers together: down = coordinator to workers, up = back; absent from older records. */
  readonly bytesDown?: number;
  readonly bytesUp?: number;
  /** Per worker with traffic in the step: its bytes each way and its link's figures (docs/protocol.md "Links"). */
  readonly links?: readonly StepLink[];
}

/** One worker's link in one step. Bandwidths are estimates from the large frames, 0 until measured. */
export interface StepLink {
  readonly workerId: number;
  readonly bytesDown: number;
  readonly bytesUp: number;
  /** Round trip of the coordinator's ping (the smallest of the recent ones), milliseconds; 0 until measured. */
  readonly rttMs: number;
  /** Megabits per second (10^6 bits) each way. */
  readonly downMbps: number;
  readonly upMbps: number;
}

export interface MisclassifiedSample {
  /** Index into the training split (validation images are its last images). */
  readonly index: number;
  readonly label: number;
  readonly predicted: number;
  /** 28*28 grey levels, row-major. */
  readonly pixels: Uint8Array;
}

export interface EpochRecord {
  readonly kind: 'epoch';
  readonly epoch: number;
  readonly step: number;
  /** Mean over the epoch's steps (training mode, so with dropout when the model has it). */
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly validationLoss: number;
  readonly validationAccuracy: number;
  /** classes*classes counts, row = true label, column = predicted label. */
  readonly confusion: readonly number[];
  /** A few misclassified validation images (at most 16). */
  readonly misclassified: readonly MisclassifiedSample[];
  /** Seconds since the run started (this process's run, plus the checkpoint's elapsed time on resume). */
  readonly elapsedSeconds: number;
  readonly time: number;
}

export interface TestRecord {
  readonly kind: 'test';
  readonly step: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly count: number;
  readonly time: number;
}

export type WorkerState = 'joining' | 'computing' | 'idle' | 'gone';

export interface WorkerRow {
  readonly id: number;
  readonly name: string;
  /** Remote address:port as the coordinator sees it. */
  readonly address: string;
  readonly state: WorkerState;
  readonly kernels: string;
  /** Compute threads of the worker (hello's; absent from older records). */
  readonly threads?: number;
  /** The runtime its hello named ("chrome 131", "node 20.19.2"); absent for workers that name none. */
  readonly runtime?: string;
  /** Measured throughput (exponential moving average), 0 until measured. */
  readonly imagesPerSecond: number;
  /** Round trip of its last slice, milliseconds (0 before the first). */
  readonly lastStepMs: number;
  readonly sliceSize: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Milliseconds since the last frame or pong from it. */
  readonly heartbeatAgeMs: number;
  /** Its link as the coordinator measures it (StepLink says how); absent from older records. */
  readonly rttMs?: number;
  readonly downMbps?: number;
  readonly upMbps?: number;
}

export interface WorkersRecord {
  readonly kind: 'workers';
  readonly workers: readonly WorkerRow[];
  readonly time: number;
}

/**
 * `stall`: the run stopped while a worker still owed its slice (the detail names where it was last seen).
 * `refused-answer`: a gradient out of all proportion to the others' was refused (its slice
 * recomputed elsewhere); `demotion`: a worker with repeated strikes gets no work for a while;
 * `replica-drift`: a worker's replica hash differed from the coordinator's (it gets full state).
 */
export type RunEventName = 'join' | 'leave' | 'death' | 'deadline-miss' | 'refused-answer' | 'demotion' | 'coordinator-restart' | 'stall' | 'replica-drift';

export interface EventRecord {
  readonly kind: 'event';
  readonly event: RunEventName;
  /** The step in progress (or about to start) when it happened. */
  readonly step: number;
  readonly workerId: number | null;
  readonly detail: string;
  readonly time: number;
}

export interface EndRecord {
  readonly kind: 'end';
  /** 'finished' (all epochs), 'stopped' (Ctrl-C, resumable) or 'failed'. */
  readonly reason: 'finished' | 'stopped' | 'failed';
  readonly step: number;
  readonly detail: string;
  readonly time: number;
}

/**
 * One worker's part of one step (timing.ts in the coordinator). `sentMs` and `arrivedMs` are on
 * the coordinator's clock, from the step's start; the worker's own durations are on its clock
 * (the two clocks are never compared, only durations are).
 */
export interface WorkerStepTiming {
  readonly workerId: number;
  /** Images of its slice. */
  readonly images: number;
  /** Its slice's step frame was handed to the socket, and its answer arrived (ms from the step's start). */
  readonly sentMs: number;
  readonly arrivedMs: number;
  /** The worker's decode of the step frame and its forward+backward (the gradient message's fields). */
  readonly decodeMs: number;
  readonly computeMs: number;
  /** The worker's report (`phases` of its gradient), null from a worker that sends none. */
  readonly phases: WorkerPhases | null;
}

/**
 * A step's timeline: the coordinator's phases (wait for every answer, sum, optimizer, publish:
 * they add up to stepMs) and each answer's timing. Sent to dashboards and written to the run
 * folder's trace.jsonl, never to history.jsonl (one per step and worker would swell it).
 */
export interface TimingRecord {
  readonly kind: 'timing';
  readonly step: number;
  /** Date.now() at the step's start, with performance.now()'s fraction (ms since the epoch). */
  readonly startTime: number;
  readonly stepMs: number;
  readonly waitMs: number;
  readonly sumMs: number;
  readonly optimizerMs: number;
  readonly publishMs: number;
  /** The answers summed, in slice order (a worker that answered two slices appears twice). */
  readonly workers: readonly WorkerStepTiming[];
}

export type MetricsRecord = RunRecord | StepRecord | EpochRecord | TestRecord | WorkersRecord | EventRecord | EndRecord | TimingRecord;
