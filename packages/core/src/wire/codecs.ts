/**
 * The wire codecs a run chooses with the coordinator's `--wire` (one list, everything else
 * derives from it):
 *
 *   fp32  float32 parameters down, float32 gradient sums up: the exact reference path.
 *   bf16  replicas on the workers; gradient sums up and the summed update down as bf16,
 *         each rounding error carried to the next step (error feedback), float32 math everywhere.
 *   topk  replicas; each worker sends only the largest entries of its accumulated gradient
 *         (Deep Gradient Compression's local accumulation and sparsity warm-up, Lin et al.
 *         2018), the rest waits in its residual; the summed update is the union of the sent
 *         entries (<= workers * k). Values go as bf16 both ways, each rounding error kept in
 *         the sender's residual. The slow-link codec.
 */
export const WIRE_CODECS = ['fp32', 'bf16', 'topk'] as const;
export type WireCodec = (typeof WIRE_CODECS)[number];

export function isWireCodec(value: string): value is WireCodec {
  return (WIRE_CODECS as readonly string[]).includes(value);
}

/** Whether workers hold replicas (parameters and optimizer state) and apply broadcast updates. */
export function usesReplicas(codec: WireCodec): boolean {
  switch (codec) {
    case 'fp32':
      return false;
    case 'bf16':
    case 'topk':
      return true;
    default: {
      const unhandled: never = codec;
      throw new Error(`unknown wire codec ${String(unhandled)}`);
    }
  }
}

/**
 * topk's density schedule (DGC section 3.4, "warm-up training"): the fraction of entries a
 * worker sends falls exponentially from START to FINAL over the warm-up (the coordinator's
 * --topk-warmup-steps, one epoch by default), so the early, fast-changing gradients are not
 * held back for long in the residual.
 * FINAL: 1% up (about 3.3 bytes an entry, a bf16 value and a varint gap, against float32's 4
 * a parameter: under 1% of float32's bytes) and at most 2 x that down with two workers
 * (budget.test.ts: <= 3%). Why not lower: Adam normalises each
 * entry by its own history, so an entry that arrives in rare, accumulated bursts moves less
 * than one sent every step, and test accuracy falls; a higher density shortens the bursts
 * (the comparison: bench/README.md, "topk and Adam").
 * NOTE: freezing Adam's variance after the warm-up (1-bit Adam) does not carry over: an
 * entry rarely sent during the warm-up keeps a variance near 0, and its first later burst
 * takes a huge step (the run diverges); letting the frozen variance only grow trains worse.
 */
export const TOPK_DENSITY = { start: 0.25, final: 0.01 } as const;

/** The density of step `step` (1-based) in a run whose warm-up lasts `warmupSteps` steps (0: none). */
export function topkDensity(step: number, warmupSteps: number): number {
  if (warmupSteps <= 0) return TOPK_DENSITY.final;
  const progress = Math.min(1, Math.max(0, (step - 1) / warmupSteps));
  return Math.max(TOPK_DENSITY.final, TOPK_DENSITY.start * (TOPK_DENSITY.final / TOPK_DENSITY.start) ** progress);
}

/** Steps between replica hash checks (a worker sends its parameters' hash when version % this is 0). */
export const REPLICA_CHECK_EVERY = 20;
