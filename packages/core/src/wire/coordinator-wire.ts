/**
 * The coordinator's side of a replica run (bf16, topk): turns each step's summed gradient into
 * the update every replica applies, encoded once for all workers, and applies that same
 * update to the coordinator's own replica (the model it checkpoints and hands to joiners).
 *
 *   bf16: the mean gradient plus the download residual, rounded to bf16 (the rounding error
 *         waits in the residual for the next step); dense, 2 bytes a parameter.
 *   topk: the mean gradient's nonzero entries (the union of what the workers sent), each
 *         plus its download residual, rounded to bf16 (the rounding error waits in the
 *         residual until the entry is in a union again); sparse, or dense bf16 (every entry,
 *         residual included) when that is smaller.
 * Either way the coordinator's replica applies the frame as the workers decode it, so the
 * replicas stay bit-identical.
 */
import type { UpdateMessage } from '../protocol/messages.js';
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { fromBf16, roundToBf16 } from './bf16.js';
import { topkDensity, type WireCodec } from './codecs.js';
import { packBf16, packTopk } from './packed.js';
import { replicaStateNames, updateScalars, type UpdateScalars } from './replica.js';
import { createReplicaArrays, type ReplicaArrays } from './replica-kernel.js';

export class CoordinatorWire {
  /** What earlier updates did not send, in mean-gradient units (bf16: every entry; topk: entries of past unions). */
  readonly residual: Float32Array;
  private readonly bits: Uint16Array | null;
  private readonly indices: Uint32Array | null;
  /** The union of the answers' indices: one bit per parameter, and the union as a list (made at the first union). */
  private unionScratch: { readonly words: Uint32Array; readonly indices: Uint32Array } | null = null;
  /**
   * The replica arrays the update is computed in: the constructor's, else made at the first
   * encode (they depend on the optimizer).
   */
  private replica: ReplicaArrays | null;
  /** The update encode() made and apply() has yet to apply. */
  private pending: { readonly config: ResolvedOptimizerConfig; readonly scalars: UpdateScalars } | null = null;

  constructor(
    readonly codec: Exclude<WireCodec, 'fp32'>,
    readonly paramCount: number,
    /** topk: the steps of the density warm-up (codecs.ts), the run's --topk-warmup-steps or one epoch. */
    readonly warmupSteps: number,
    /**
     * The arrays (createReplicaArrays) the model's parameters and the optimizer's state live in,
     * when they do: apply() then updates them in place. Else apply() copies.
     */
    replica: ReplicaArrays | null = null,
  ) {
    this.replica = replica;
    this.residual = new Float32Array(paramCount);
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
   * topk: `answerIndices`, when given, are the indices of the sparse answers summed into
   * `gradientSum` (each ascending; the sum is 0 off their union), so the union is found
   * from them instead of a scan of paramCount entries; the update is the same either way.
   * NOTE: two calls so the coordinator can send the update first and apply it while the
   * workers do: the update's arithmetic is on the step's path on both sides.
   */
  encode(
    version: number, config: ResolvedOptimizerConfig, learningRate: number, iterations: number, gradientSum: Float32Array, images: number,
    answerIndices?: readonly Uint32Array[],
  ): UpdateMessage {
    this.replica ??= createReplicaArrays(config, this.paramCount);
    // The mean gradient as the receivers decode it goes where the update reads it.
    const packed = this.pack(gradientSum, Math.fround(1 / images), this.replica.gradient, answerIndices);
    const scalars = updateScalars(config, learningRate, iterations + 1);
    this.pending = { config, scalars };
    return { type: 'update', version, ...scalars, packed, gradient: new Float32Array(0) };
  }

  /**
   * Applies the update encode() made to `params` and `state` (the optimizer's arrays by name), once.
   * NOTE: in place when they are the replica's arrays. Otherwise (the wasm kernels' model, which
   * must own its arrays) they are copied into the replica's and back: six 4.8 MB copies a
   * step for the default model under Adam, on the step's path.
   */
  apply(params: Float32Array, state: Readonly<Record<string, Float32Array>>): void {
    const pending = this.pending;
    const replica = this.replica;
    if (pending === null || replica === null) throw new Error('CoordinatorWire.apply: no update encoded since the last apply');
    this.pending = null;
    const arrays = [params, ...replicaStateNames(pending.config).map((name) => state[name]!)];
    const own = [replica.params, ...replica.state];
    for (const [i, array] of arrays.entries()) if (array !== own[i]) own[i]!.set(array);
    replica.apply(pending.scalars);
    for (const [i, array] of arrays.entries()) if (array !== own[i]) array.set(own[i]!);
  }

  /**
   * Packs the mean gradient (`gradientSum` times `scale`) plus the residual, leaves in the
   * residual what was not sent, and writes into `applied` exactly what the receivers decode.
   */
  private pack(gradientSum: Float32Array, scale: number, applied: Float32Array, answerIndices: readonly Uint32Array[] | undefined): Uint8Array {
    const residual = this.residual;
    switch (this.codec) {
      case 'bf16': {
        for (let i = 0; i < applied.length; i++) applied[i] = gradientSum[i]! * scale;
        roundToBf16(applied, this.bits!, residual);
        for (let i = 0; i < applied.length; i++) applied[i] = fromBf16(this.bits![i]!);
        return packBf16(this.bits!);
      }
      case 'topk': {
        // The union: entries some worker sent. Off it the mean is 0, so the add leaves the
        // residual as it is there (it waits for the entry's next union, or a dense frame).
        const indices = this.indices!;
        let count = 0;
        // The union from the answers' indices, unless they hold as many entries as there are
        // parameters (the warm-up's dense steps of many workers): setting that many bits costs
        // more than a scan of the sum.
        const fromAnswers = answerIndices !== undefined && answerIndices.reduce((total, list) => total + list.length, 0) < this.paramCount;
        if (fromAnswers) {
          this.unionScratch ??= { words: new Uint32Array(unionWords(this.paramCount)), indices: new Uint32Array(this.paramCount) };
          const union = this.unionScratch.indices;
          const unionCount = unionOf(answerIndices, this.unionScratch.words, union);
          for (let j = 0; j < unionCount; j++) {
            const i = union[j]!;
            const mean = Math.fround(gradientSum[i]! * scale);
            if (mean !== 0) {
              indices[count++] = i;
              residual[i] = residual[i]! + mean;
            }
          }
        } else {
          for (let i = 0; i < residual.length; i++) {
            const mean = Math.fround(gradientSum[i]! * scale);
            if (mean !== 0) {
              indices[count++] = i;
              residual[i] = residual[i]! + mean;
            }
          }
        }
        return packTopk(residual, indices, count, applied);
      }
      default: {
        const unhandled: never = this.codec;
        throw new Error(`unknown codec ${String(unhandled)}`);
      }
    }
  }
}

/** The words of the bitset unionOf needs for indices below `paramCount` (1 bit each). */
export function unionWords(paramCount: number): number {
  return Math.ceil(paramCount / 32);
}

/**
 * Writes into `out` the ascending union of `lists` (indices below 32 * words.length, in any
 * order, repeats allowed); returns its length (`out` holds at least that many). `words` is
 * the bitset (unionWords of the index range, all 0) and is left all 0 again.
 * Costs one bit set per entry of the lists and a walk over the words, for any number of
 * lists: 32 topk answers of 1.2M parameters at 1% are 384k entries and 37.5k words.
 */
export function unionOf(lists: readonly Uint32Array[], words: Uint32Array, out: Uint32Array): number {
  for (const list of lists) {
    for (let j = 0; j < list.length; j++) {
      const index = list[j]!;
      const w = index >>> 5;
      words[w] = words[w]! | (1 << (index & 31));
    }
  }
  let count = 0;
  for (let w = 0; w < words.length; w++) {
    let word = words[w]!;
    if (word === 0) continue;
    words[w] = 0;
    const base = w << 5;
    // Lowest set bit first: `word & -word` isolates it, clz32 gives its position.
    // NOTE: int32 arithmetic: with bit 31 set `word` is negative, and still nonzero.
    do {
      const lowest = word & -word;
      out[count++] = base + 31 - Math.clz32(lowest);
      word ^= lowest;
    } while (word !== 0);
  }
  return count;
}
