/**
 * The coordinator's side of a replica run (bf16, topk): turns each step's summed gradient into
 * the update every replica applies, encoded once for all workers, and applies that same
 * update to the coordinator's own replica (the model it checkpoints and hands to joiners).
 *
 *   bf16: the mean gradient plus the download residual, rounded to bf16 (the rounding error
 *         waits in the residual for the next step); dense, 2 bytes a parameter.
 *   topk: the mean gradient's nonzero entries (the union of what the workers sent), exact
 *         float32 values; sparse, or dense float32 when that is smaller.
 */
import type { UpdateMessage } from '../protocol/messages.js';
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { roundToBf16, fromBf16 } from './bf16.js';
import { topkDensity, type WireCodec } from './codecs.js';
import { packBf16, packSparse } from './packed.js';
import { replicaStateNames, updateScalars, type UpdateScalars } from './replica.js';
import { createReplicaArrays, type ReplicaArrays } from './replica-kernel.js';

export class CoordinatorWire {
  private readonly residual: Float32Array | null;
  private readonly bits: Uint16Array | null;
  private readonly indices: Uint32Array | null;
  /** The replica arrays the update is computed in (made at the first encode: they depend on the optimizer). */
  private replica: ReplicaArrays | null = null;
  /** The update encode() made and apply() has yet to apply. */
  private pending: { readonly config: ResolvedOptimizerConfig; readonly scalars: UpdateScalars } | null = null;

  constructor(
    readonly codec: Exclude<WireCodec, 'fp32'>,
    readonly paramCount: number,
    /** topk: the steps of the density warm-up (codecs.ts), the run's --topk-warmup-steps or one epoch. */
    readonly warmupSteps: number,
  ) {
    this.residual = codec === 'bf16' ? new Float32Array(paramCount) : null;
    this.bits = codec === 'bf16' ? new Uint16Array(paramCount) : null;
    this.indices = codec === 'topk' ? new Uint32Array(paramCount) : null;
  }

  /** topk's density for step `step` (undefined for bf16: it sends everything). */
  density(step: number): number | undefined {
    return this.codec === 'topk' ? topkDensity(step, this.warmupSteps) : undefined;
  }

  /**
   * The message that brings every replica from `version - 1` to `version`: update number
   * `iterations + 1` from `gradientSum` (the ordered sum of the step's answers, `images` of
   * them). apply() then applies the same update to the coordinator's replica.
   * NOTE: two calls so the coordinator can send the update first and apply it while the
   * workers do: the update's arithmetic is on the step's path on both sides.
   */
  encode(version: number, config: ResolvedOptimizerConfig, learningRate: number, iterations: number, gradientSum: Float32Array, images: number): UpdateMessage {
    this.replica ??= createReplicaArrays(config, this.paramCount);
    // The mean gradient as applied (what the receivers decode), where the update reads it.
    const applied = this.replica.gradient;
    const scale = Math.fround(1 / images);
    for (let i = 0; i < applied.length; i++) applied[i] = gradientSum[i]! * scale;
    const packed = this.pack(applied);
    const scalars = updateScalars(config, learningRate, iterations + 1);
    this.pending = { config, scalars };
    return { type: 'update', version, ...scalars, packed, gradient: new Float32Array(0) };
  }

  /**
   * Applies the update encode() made to `params` and `state` (the optimizer's arrays by name), once.
   * NOTE: copies them into the replica arrays and back (a few ms for 1.2M parameters): the
   * model and optimizer own theirs, and a checkpoint or evaluation reads those.
   */
  apply(params: Float32Array, state: Readonly<Record<string, Float32Array>>): void {
    const pending = this.pending;
    const replica = this.replica;
    if (pending === null || replica === null) throw new Error('CoordinatorWire.apply: no update encoded since the last apply');
    this.pending = null;
    const names = replicaStateNames(pending.config);
    replica.params.set(params);
    names.forEach((name, i) => replica.state[i]!.set(state[name]!));
    replica.apply(pending.scalars);
    params.set(replica.params);
    names.forEach((name, i) => state[name]!.set(replica.state[i]!));
  }

  /** Packs `mean` and leaves in it exactly what the receivers will decode. */
  private pack(mean: Float32Array): Uint8Array {
    switch (this.codec) {
      case 'bf16': {
        roundToBf16(mean, this.bits!, this.residual);
        for (let i = 0; i < mean.length; i++) mean[i] = fromBf16(this.bits![i]!);
        return packBf16(this.bits!);
      }
      case 'topk': {
        let count = 0;
        for (let i = 0; i < mean.length; i++) if (mean[i] !== 0) this.indices![count++] = i;
        return packSparse(mean, this.indices!, count);
      }
      default: {
        const unhandled: never = this.codec;
        throw new Error(`unknown codec ${String(unhandled)}`);
      }
    }
  }
}
