/**
 * Top-k selection for the topk codec: the indices of the `k` entries of largest magnitude,
 * sorted ascending. DGC (Lin et al. 2018, section 3) estimates the threshold from a sample
 * and keeps what passes it; here the sample's threshold is set low on purpose, and an exact
 * selection among the (few) candidates trims them to k, so exactly min(k, nonzero) entries go.
 */

/** Every this-many-th entry is sampled to estimate the threshold. */
const SAMPLE_STRIDE = 97;
/** The sample's threshold sits at this fraction of the estimated k-th magnitude, so candidates rarely fall short of k. */
const THRESHOLD_SLACK = 0.7;

/**
 * Writes into `out` (length >= k) the indices of the k largest |values[i]| (only nonzero
 * entries count), ascending; returns how many were written.
 */
export function selectTopK(values: Float32Array, k: number, out: Uint32Array): number {
  const length = values.length;
  if (k <= 0) return 0;
  let threshold = 0;
  if (k < length / 4) {
    const sample = new Float32Array(Math.ceil(length / SAMPLE_STRIDE));
    for (let i = 0, j = 0; i < length; i += SAMPLE_STRIDE, j++) sample[j] = Math.abs(values[i]!);
    sample.sort();
    const rank = Math.min(sample.length - 1, Math.max(0, Math.floor(sample.length * (1 - k / length))));
    threshold = sample[rank]! * THRESHOLD_SLACK;
  }
  let candidates = gather(values, threshold);
  if (candidates.length < k && threshold > 0) candidates = gather(values, 0);
  if (candidates.length <= k) {
    out.set(candidates);
    return candidates.length;
  }
  // Exact: the k-th largest magnitude among the candidates, then every candidate above it, ties in index order.
  const magnitudes = new Float32Array(candidates.length);
  for (let j = 0; j < candidates.length; j++) magnitudes[j] = Math.abs(values[candidates[j]!]!);
  const sorted = magnitudes.slice().sort();
  const kth = sorted[sorted.length - k]!;
  let above = 0;
  for (let j = 0; j < candidates.length; j++) if (magnitudes[j]! > kth) above++;
  let tiesLeft = k - above;
  let written = 0;
  for (let j = 0; j < candidates.length; j++) {
    const magnitude = magnitudes[j]!;
    if (magnitude > kth || (magnitude === kth && tiesLeft-- > 0)) out[written++] = candidates[j]!;
  }
  return written;
}

/** Indices (ascending) of the nonzero entries whose magnitude is >= threshold. */
function gather(values: Float32Array, threshold: number): Uint32Array {
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const magnitude = Math.abs(values[i]!);
    if (magnitude >= threshold && magnitude > 0) count++;
  }
  const indices = new Uint32Array(count);
  for (let i = 0, j = 0; i < values.length; i++) {
    const magnitude = Math.abs(values[i]!);
    if (magnitude >= threshold && magnitude > 0) indices[j++] = i;
  }
  return indices;
}
