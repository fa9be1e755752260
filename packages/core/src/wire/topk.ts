/**
 * Top-k selection for the topk codec: the indices of the `k` entries of largest magnitude,
 * sorted ascending, in two linear passes over the vector (no sort): a magnitude's float32
 * bits, sign cleared, order like the magnitudes, so the k-th largest is found by a radix
 * select on those bits (a histogram of the high 16 bits, then of the low 16 bits within the
 * bucket that holds it). The second pass also keeps the candidates (entries at or above
 * that bucket, about k plus one bucket's worth), so the final filter runs over those only.
 * DGC (Lin et al. 2018) estimates the threshold from a sample instead; the exact select
 * costs about the same and sends exactly min(k, nonzero entries).
 */

const BUCKETS = 65_536;

/**
 * Writes into `out` (length >= values.length: it also holds the candidates) the indices of
 * the k largest |values[i]| (only nonzero entries count; among equal magnitudes the lower
 * indices), ascending; returns how many.
 */
export function selectTopK(values: Float32Array, k: number, out: Uint32Array): number {
  const length = values.length;
  if (k <= 0) return 0;
  const bits = new Uint32Array(values.buffer, values.byteOffset, length);
  const high = new Uint32Array(BUCKETS);
  let nonzero = 0;
  for (let i = 0; i < length; i++) {
    const magnitude = bits[i]! & 0x7fffffff;
    if (magnitude !== 0) {
      high[magnitude >>> 16]!++;
      nonzero++;
    }
  }
  if (nonzero <= k) {
    let written = 0;
    for (let i = 0; i < length; i++) if ((bits[i]! & 0x7fffffff) !== 0) out[written++] = i;
    return written;
  }
  // The bucket of the k-th largest, and how many of its entries are still needed.
  let needed = k;
  let bucket = BUCKETS - 1;
  while (high[bucket]! < needed) needed -= high[bucket--]!;
  // The candidates: every entry whose high bits are at or above the bucket, ascending.
  const low = new Uint32Array(BUCKETS);
  const threshold = (bucket << 16) >>> 0;
  let candidates = 0;
  for (let i = 0; i < length; i++) {
    const magnitude = (bits[i]! & 0x7fffffff) >>> 0;
    if (magnitude >= threshold) {
      out[candidates++] = i;
      if (magnitude >>> 16 === bucket) low[magnitude & 0xffff]!++;
    }
  }
  let lowBits = BUCKETS - 1;
  while (low[lowBits]! < needed) needed -= low[lowBits--]!;
  // Everything above the k-th magnitude, and `needed` of the entries equal to it, filtered
  // in place (the write position never passes the read position).
  const kth = (threshold | lowBits) >>> 0;
  let written = 0;
  for (let j = 0; j < candidates; j++) {
    const index = out[j]!;
    const magnitude = (bits[index]! & 0x7fffffff) >>> 0;
    if (magnitude > kth || (magnitude === kth && needed-- > 0)) out[written++] = index;
  }
  return written;
}
