/**
 * The coordinator's part of a replica run (--wire bf16/topk; core's wire/ has the codecs and
 * the update math): what a step's jobs carry for replicas (the full state for a stale worker,
 * topk's density), the drift check on the answers, and the update itself: encoded once, sent
 * to every worker at the previous version, then applied to the coordinator's own replica
 * (the model it checkpoints and hands to joiners).
 */
import {
  CoordinatorWire,
  REPLICA_CHECK_EVERY,
  countParameters,
  createReplicaArrays,
  encodeMessage,
  replicaHash,
  replicaStateNames,
  resolveOptimizerConfig,
  type EventRecord,
  type Kernels,
  type Model,
  type ModelSpec,
  type Optimizer,
  type OptimizerConfig,
  type ReplicaArrays,
  type StateStorage,
  type WireCodec,
} from '@convoy/core';
import type { FullState } from './evaluation.js';
import { sparseAnswerIndices } from './gradient-sum.js';
import type { Piece, Scheduler } from './scheduler.js';

/** What a step's job carries for replicas: the full state for a stale worker, topk's density, and --overlap's parameters before the last update. */
export interface ReplicaJob {
  readonly state: FullState;
  readonly density: number | undefined;
  /**
   * --overlap: the parameters of `version - 1`, when the coordinator holds them (null without
   * --overlap). It does not after a resume until its first update, nor at version 0.
   */
  readonly previous: ((version: number) => Float32Array | null) | null;
}

/** The replica hash of the coordinator's parameters at `version`. */
export interface ExpectedHash {
  readonly version: number;
  readonly hash: number;
}

/** The coordinator replica's arrays, and its optimizer state by name (the optimizer's storage). */
export interface CoordinatorReplica {
  readonly arrays: ReplicaArrays;
  readonly state: StateStorage;
}

/**
 * Replica runs: the arrays the coordinator's replica lives in. The model's parameters and the
 * optimizer's state are made to live there too, so each update is applied in place instead of
 * copied in and out (CoordinatorWire.apply). Null in fp32 runs, and on the wasm kernels, which
 * read only arrays they allocated.
 */
export function coordinatorReplica(options: { readonly wire: WireCodec; readonly spec: ModelSpec; readonly optimizer: OptimizerConfig }, kernels: Kernels): CoordinatorReplica | null {
  if (options.wire === 'fp32' || kernels.name === 'wasm') return null;
  const config = resolveOptimizerConfig(options.optimizer);
  const arrays = createReplicaArrays(config, countParameters(options.spec));
  return { arrays, state: Object.fromEntries(replicaStateNames(config).map((name, i) => [name, arrays.state[i]!])) };
}

export class ReplicaUpdates {
  private readonly wire: CoordinatorWire;
  /** The optimizer state and update count a job sends with the parameters. */
  readonly fullState: FullState;
  /** --overlap: the parameters before the last update (of `previousVersion`), for lookahead steps (null without --overlap). */
  private readonly previous: Float32Array | null;
  private previousVersion = -1;

  constructor(
    codec: Exclude<WireCodec, 'fp32'>,
    /** topk's density warm-up in steps (the run's --topk-warmup-steps, or one epoch). */
    warmupSteps: number,
    private readonly model: Model,
    private readonly optimizer: Optimizer,
    private readonly scheduler: Scheduler,
    private readonly publish: (record: EventRecord) => void,
    overlap: boolean,
    /** The arrays the model's parameters and the optimizer's state live in, when they do (coordinatorReplica). */
    replica: ReplicaArrays | null = null,
  ) {
    this.wire = new CoordinatorWire(codec, model.paramCount, warmupSteps, replica);
    this.previous = overlap ? new Float32Array(model.paramCount) : null;
    this.fullState = () => ({ state: replicaStateNames(optimizer.config).map((name) => optimizer.state[name]!), iterations: optimizer.iterations });
  }

  /** What step `step`'s jobs carry for replicas (step-job.ts). */
  job(step: number): ReplicaJob {
    const previous = this.previous;
    const before = (version: number) => (version > 0 && this.previousVersion === version - 1 ? previous : null);
    return { state: this.fullState, density: this.wire.density(step), previous: previous === null ? null : before };
  }

  /**
   * What answers computed with the parameters of `version` (the coordinator's, now) must carry as
   * their replica hash; null when that version is not checked.
   */
  expectedHash(version: number): ExpectedHash | null {
    return version % REPLICA_CHECK_EVERY === 0 ? { version, hash: replicaHash(this.model.params) } : null;
  }

  /**
   * The step's update from `gradientSum` (its answers summed in slice order, `images` of them):
   * workers whose hash was not `expected` are resynced (an event each), the update goes to the
   * workers, then the coordinator applies it.
   */
  apply(step: number, pieces: readonly Piece[], expected: ExpectedHash | null, gradientSum: Float32Array, images: number): void {
    const { model, optimizer, scheduler } = this;
    if (expected !== null) this.checkReplicas(pieces, expected, step);
    // Sent first, so the workers apply it while the coordinator does.
    scheduler.broadcast(step, encodeMessage(this.wire.encode(step, optimizer.config, optimizer.learningRate, optimizer.iterations, gradientSum, images, sparseAnswerIndices(pieces))));
    if (this.previous !== null) {
      this.previous.set(model.params);
      this.previousVersion = step - 1;
    }
    this.wire.apply(model.params, optimizer.state);
    // NOTE: the update is applied by the replica math above (bit-exact everywhere), not the optimizer's kernel: this only counts it.
    optimizer.restore(optimizer.iterations + 1, optimizer.state);
  }

  /** Workers whose replica hash is not the coordinator's get the full state with their next job. */
  private checkReplicas(pieces: readonly Piece[], expected: ExpectedHash, step: number): void {
    for (const piece of pieces) {
      // NOTE: a slice sent again after an update (--overlap) computed with other parameters.
      const hash = piece.answer.type === 'gradient' && piece.version === expected.version ? piece.answer.replicaHash : undefined;
      if (hash === undefined || hash === expected.hash) continue;
      this.scheduler.resync(piece.workerId);
      const detail = `worker ${piece.workerId}'s parameters of version ${expected.version} hash to ${hash}, the coordinator's to ${expected.hash}: full state resent`;
      this.publish({ kind: 'event', event: 'replica-drift', step, workerId: piece.workerId, detail, time: Date.now() });
    }
  }
}
