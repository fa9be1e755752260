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
  encodeMessage,
  replicaHash,
  replicaStateNames,
  type EventRecord,
  type Model,
  type Optimizer,
  type WireCodec,
} from '@convoy/core';
import type { FullState } from './evaluation.js';
import type { Piece, Scheduler } from './scheduler.js';

export class ReplicaUpdates {
  private readonly wire: CoordinatorWire;
  /** The optimizer state and update count a job sends with the parameters. */
  readonly fullState: FullState;

  constructor(
    codec: Exclude<WireCodec, 'fp32'>,
    /** topk's density warm-up in steps (the run's --topk-warmup-steps, or one epoch). */
    warmupSteps: number,
    private readonly model: Model,
    private readonly optimizer: Optimizer,
    private readonly scheduler: Scheduler,
    private readonly publish: (record: EventRecord) => void,
  ) {
    this.wire = new CoordinatorWire(codec, model.paramCount, warmupSteps);
    this.fullState = () => ({ state: replicaStateNames(optimizer.config).map((name) => optimizer.state[name]!), iterations: optimizer.iterations });
  }

  /** What step `step`'s jobs carry for replicas (step-job.ts). */
  job(step: number): { readonly state: FullState; readonly density: number | undefined } {
    return { state: this.fullState, density: this.wire.density(step) };
  }

  /** The hash the answers of step `step` must carry (null when the step is not checked); call before the step's update. */
  expectedHash(step: number): number | null {
    return (step - 1) % REPLICA_CHECK_EVERY === 0 ? replicaHash(this.model.params) : null;
  }

  /**
   * The step's update from `gradientSum` (its answers summed in slice order, `images` of them):
   * workers whose hash was not `expected` are resynced (an event each), the update goes to the
   * workers, then the coordinator applies it.
   */
  apply(step: number, pieces: readonly Piece[], expected: number | null, gradientSum: Float32Array, images: number): void {
    const { model, optimizer, scheduler } = this;
    if (expected !== null) this.checkReplicas(pieces, expected, step);
    // Sent first, so the workers apply it while the coordinator does.
    scheduler.broadcast(step, encodeMessage(this.wire.encode(step, optimizer.config, optimizer.learningRate, optimizer.iterations, gradientSum, images)));
    this.wire.apply(model.params, optimizer.state);
    // NOTE: the update is applied by the replica math above (bit-exact everywhere), not the optimizer's kernel: this only counts it.
    optimizer.restore(optimizer.iterations + 1, optimizer.state);
  }

  /** Workers whose replica hash is not the coordinator's get the full state with their next job. */
  private checkReplicas(pieces: readonly Piece[], expected: number, step: number): void {
    for (const piece of pieces) {
      const hash = piece.answer.type === 'gradient' ? piece.answer.replicaHash : undefined;
      if (hash === undefined || hash === expected) continue;
      this.scheduler.resync(piece.workerId);
      const detail = `worker ${piece.workerId}'s parameters of version ${step - 1} hash to ${hash}, the coordinator's to ${expected}: full state resent`;
      this.publish({ kind: 'event', event: 'replica-drift', step, workerId: piece.workerId, detail, time: Date.now() });
    }
  }
}
