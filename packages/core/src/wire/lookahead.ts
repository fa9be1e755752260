/**
 * --overlap's lookahead. A step sent before the update ahead of it lands would compute its
 * gradient one update behind the parameters it is applied to. Instead it computes with the
 * parameters extrapolated one update ahead, assuming the last update repeats:
 *
 *   ahead = params(v) + (params(v) - params(v - 1)) = 2 x params(v) - params(v - 1)
 *
 * (weight prediction, as SpecTrain and PipeMare do for pipeline staleness). Adam's momentum
 * makes consecutive updates alike, so this lands near the parameters of v + 1.
 *
 * Each entry is two float32 operations, (p + p) - q, so every replica computes the same bits
 * whatever runs it: the replica update's WebAssembly kernel writes it in the update's own pass
 * (assembly/replica.ts), this is the TypeScript of it (and the reference the kernel is tested
 * against). p + p is exact unless it overflows, so this is 2p - q rounded once.
 *
 * `out` may be `previous` (in place).
 */
export function extrapolate(out: Float32Array, params: Float32Array, previous: Float32Array): Float32Array {
  const f = Math.fround;
  for (let i = 0; i < params.length; i++) out[i] = f(f(2 * params[i]!) - previous[i]!);
  return out;
}
