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
 * NOTE: every replica computes it in JavaScript, in double precision rounded once to float32,
 * so all workers (Node and browser) compute with the same bits.
 */
export function extrapolate(out: Float32Array, params: Float32Array, previous: Float32Array): Float32Array {
  for (let i = 0; i < params.length; i++) out[i] = 2 * params[i]! - previous[i]!;
  return out;
}
