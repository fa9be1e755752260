/**
 * Top-k selection for the topk codec: the indices of the `k` entries of largest magnitude,
 * sorted ascending, with no sort: a magnitude's float32 bits, sign cleared, order like the
 * magnitudes, so the k-th largest is found by a radix select on those bits (a histogram of
 * the high 16 bits, then of the low 16 bits within the bucket that holds it).
 *
 * selectTopK is the plain select: two linear passes over the vector (the histogram, then
 * the candidates: entries at or above the k-th's bucket, about k plus one bucket's worth),
 * and a filter over the candidates only.
 *
 * TopKAccumulator is what a worker runs every step: the residual add and the collection of
 * candidates in one pass (topk-kernel.ts), above a floor taken from the previous step's
 * k-th magnitude. Every entry at or
 * above the floor is a candidate; when there are at least k of them, the k largest are
 * among them (everything else is below the floor, so below the k-th), and the radix select
 * runs over the candidates alone. When there are fewer, it falls back to selectTopK: the
 * answer is the same either way, only its cost depends on the floor.
 * DGC (Lin et al. 2018) estimates the threshold from a sample instead; this select is exact
 * and sends exactly min(k, nonzero entries).
 */

import type { TopKArrays } from './topk-kernel.js';

const BUCKETS = 65_536;
/** Magnitude bits with the sign cleared. */
const MAGNITUDE = 0x7fffffff;
/**
 * The floor is the lower edge of the high-bits bucket of the FLOOR_RANK * k-th largest
 * magnitude of the previous step. The next step's k largest are mostly the entries ranked
 * just below this step's k (they stay in the residual, and grow), so a floor at rank 3k
 * leaves them a margin while letting through about 2k candidates; a lower floor costs more
 * candidates, a floor above the new k-th a second pass over the vector.
 */
const FLOOR_RANK = 3;
/**
 * No floor when FLOOR_RANK * k passes this share of the entries (the warm-up's first, dense
 * steps): the candidates' scattered reads then cost more than the full select's two
 * sequential passes.
 */
const MAX_CANDIDATE_SHARE = 0.2;

/** Histograms for the radix select (BUCKETS counts each): allocate once, reuse every call. */
interface Histograms {
  readonly high: Uint32Array;
  readonly low: Uint32Array;
}

function histograms(): Histograms {
  return { high: new Uint32Array(BUCKETS), low: new Uint32Array(BUCKETS) };
}

/**
 * Writes into `out` (length >= values.length: it also holds the candidates) the indices of
 * the k largest |values[i]| (only nonzero entries count; among equal magnitudes the lower
 * indices), ascending; returns how many.
 */
export function selectTopK(values: Float32Array, k: number, out: Uint32Array): number {
  return selectFull(new Uint32Array(values.buffer, values.byteOffset, values.length), k, out, new Uint32Array(values.length), histograms()).count;
}

/**
 * What a select found: how many indices it wrote, and the high-bits bucket of the
 * FLOOR_RANK * k-th largest magnitude it saw (-1 when it saw fewer entries).
 */
interface Selection {
  readonly count: number;
  readonly floorBucket: number;
}

/**
 * The bucket of the rank-th largest entry counted in `high`, when the buckets above `bucket`
 * hold `above` entries; -1 when all buckets from `bucket` down hold fewer than rank - above.
 */
function bucketOfRank(high: Uint32Array, rank: number, bucket: number, above: number): number {
  let needed = rank - above;
  while (bucket >= 0 && high[bucket]! < needed) needed -= high[bucket--]!;
  return bucket;
}

/** selectTopK over the float bits `bits`; `magnitudes` (bits.length) holds the candidates' magnitude bits meanwhile. */
function selectFull(bits: Uint32Array, k: number, out: Uint32Array, magnitudes: Uint32Array, { high, low }: Histograms): Selection {
  const length = bits.length;
  if (k <= 0) return { count: 0, floorBucket: -1 };
  high.fill(0);
  let nonzero = 0;
  for (let i = 0; i < length; i++) {
    const magnitude = bits[i]! & MAGNITUDE;
    if (magnitude !== 0) {
      high[magnitude >>> 16]!++;
      nonzero++;
    }
  }
  if (nonzero <= k) {
    let written = 0;
    for (let i = 0; i < length; i++) if ((bits[i]! & MAGNITUDE) !== 0) out[written++] = i;
    return { count: written, floorBucket: -1 };
  }
  // The bucket of the k-th largest, and how many of its entries are still needed.
  let needed = k;
  let bucket = BUCKETS - 1;
  while (high[bucket]! < needed) needed -= high[bucket--]!;
  const floorBucket = bucketOfRank(high, FLOOR_RANK * k, bucket, k - needed);
  // The candidates: every entry whose high bits are at or above the bucket, ascending.
  low.fill(0);
  const threshold = (bucket << 16) >>> 0;
  let candidates = 0;
  for (let i = 0; i < length; i++) {
    const magnitude = (bits[i]! & MAGNITUDE) >>> 0;
    if (magnitude >= threshold) {
      out[candidates] = i;
      magnitudes[candidates++] = magnitude;
      if (magnitude >>> 16 === bucket) low[magnitude & 0xffff]!++;
    }
  }
  let lowBits = BUCKETS - 1;
  while (low[lowBits]! < needed) needed -= low[lowBits--]!;
  const kth = (threshold | lowBits) >>> 0;
  return { count: keepLargest(magnitudes, out, candidates, kth, needed), floorBucket };
}

/**
 * The k largest among `candidates` indices in `out` (ascending, every entry not among them
 * smaller than all k; `magnitudes` holds their magnitude bits, in the same order), by the
 * same radix select over the candidates only.
 * NOTE: the candidates' bits are read from `magnitudes` in order, not through their
 * indices: scattered over a 4.8 MB vector, those reads miss the cache.
 */
function selectAmong(magnitudes: Uint32Array, k: number, out: Uint32Array, candidates: number, { high, low }: Histograms): Selection {
  high.fill(0);
  for (let j = 0; j < candidates; j++) high[magnitudes[j]! >>> 16]!++;
  let needed = k;
  let bucket = BUCKETS - 1;
  while (high[bucket]! < needed) needed -= high[bucket--]!;
  const floorBucket = bucketOfRank(high, FLOOR_RANK * k, bucket, k - needed);
  low.fill(0);
  for (let j = 0; j < candidates; j++) {
    const magnitude = magnitudes[j]!;
    if (magnitude >>> 16 === bucket) low[magnitude & 0xffff]!++;
  }
  let lowBits = BUCKETS - 1;
  while (low[lowBits]! < needed) needed -= low[lowBits--]!;
  const kth = ((bucket << 16) | lowBits) >>> 0;
  return { count: keepLargest(magnitudes, out, candidates, kth, needed), floorBucket };
}

/**
 * Keeps, in place and in order, the candidates (indices in `out`, magnitude bits in
 * `magnitudes`) above `kth` and the first `needed` equal to it (the write position never
 * passes the read position); returns how many.
 */
function keepLargest(magnitudes: Uint32Array, out: Uint32Array, candidates: number, kth: number, needed: number): number {
  let written = 0;
  for (let j = 0; j < candidates; j++) {
    const magnitude = magnitudes[j]!;
    if (magnitude > kth || (magnitude === kth && needed-- > 0)) out[written++] = out[j]!;
  }
  return written;
}

/**
 * A worker's residual add and top-k selection, one step at a time (see the header): its
 * arrays (topk-kernel.ts), the histograms and the floor live here, so a step allocates nothing.
 */
export class TopKAccumulator {
  private readonly scratch = histograms();
  private readonly bits: Uint32Array;
  /** The floor (a float32 value, see FLOOR_RANK); Infinity while there is none. */
  private floor = Infinity;
  /** Steps whose floor let too few candidates through, so that the full select ran (the tests read it). */
  fallbacks = 0;

  constructor(readonly arrays: TopKArrays) {
    this.bits = new Uint32Array(arrays.residual.buffer, arrays.residual.byteOffset, arrays.residual.length);
  }

  /**
   * residual += gradient (float32, entry by entry), then writes into the arrays' `indices`
   * the indices of the k largest |residual[i]|, as selectTopK would; returns how many.
   */
  addAndSelect(gradient: Float32Array, k: number): number {
    const { arrays, bits } = this;
    const floor = FLOOR_RANK * k <= MAX_CANDIDATE_SHARE * bits.length ? this.floor : Infinity;
    const candidates = arrays.accumulate(gradient, floor);
    if (k > 0 && candidates >= k) {
      const selection = selectAmong(arrays.magnitudes, k, arrays.indices, candidates, this.scratch);
      // Fewer than FLOOR_RANK * k candidates: the floor stays, the best bound known.
      if (selection.floorBucket >= 0) this.floor = bucketFloor(selection.floorBucket);
      return selection.count;
    }
    if (floor !== Infinity) this.fallbacks++;
    const selection = selectFull(bits, k, arrays.indices, arrays.magnitudes, this.scratch);
    this.floor = selection.floorBucket >= 0 ? bucketFloor(selection.floorBucket) : Infinity;
    return selection.count;
  }
}

const floorScratch = new Uint32Array(1);
const floorValue = new Float32Array(floorScratch.buffer);

/** The least magnitude in high-bits bucket `bucket`, as a float32; Infinity (no floor) for 0, or from Infinity and NaN up. */
function bucketFloor(bucket: number): number {
  const bits = (bucket << 16) >>> 0;
  if (bits === 0 || bits >= 0x7f800000) return Infinity;
  floorScratch[0] = bits;
  return floorValue[0]!;
}
