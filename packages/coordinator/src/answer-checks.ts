/**
 * What the coordinator checks in a step's answers beyond their shape (the protocol parser
 * has already refused NaN, Infinity and wrong lengths): answers whose gradient is out of all
 * proportion to the others', and answers that came back much later than the others.
 * Pure functions over numbers, so each rule is tested on its own (answer-checks.test.ts).
 */

/**
 * A slice's gradient is refused when its size (see gradientScale) exceeds this many times
 * the reference (lowerMedian of the step's slices and of the recent steps). An honest slice
 * stays within a few tens of the others' (a single misclassified image against a large,
 * mostly cancelling slice); 1e30 is out by orders of magnitude.
 */
export const OUTLIER_RATIO = 1_000;

/** An answer whose round trip exceeds SLOW_RATIO x the step's lower-median round trip, plus SLOW_SLACK_MS, is slow. */
export const SLOW_RATIO = 4;
/** Jitter allowance (ms) so that fast steps (a few ms) on a loaded machine do not count as slow. */
export const SLOW_SLACK_MS = 100;
/** An answer after this fraction of its deadline nearly missed it: slow too, whatever the others did. */
export const NEAR_MISS_FRACTION = 0.75;

/**
 * The size of a slice's gradient sum per image: its Euclidean norm over sqrt(images), the
 * rate at which a sum of independent per-image gradients grows, so slices of 1 and of 256
 * images compare. Computed in float64 (a float32 sum of squares of 1e30 would overflow).
 * `gradient`: the sum's values, all of them or a sparse answer's sent ones (the others are 0).
 */
export function gradientScale(gradient: Float32Array, count: number): number {
  // Four independent sums: one chain of dependent adds ran at half the speed (this is on every answer's path).
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const whole = gradient.length & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    const w = gradient[i]!;
    const x = gradient[i + 1]!;
    const y = gradient[i + 2]!;
    const z = gradient[i + 3]!;
    a += w * w;
    b += x * x;
    c += y * y;
    d += z * z;
  }
  for (; i < gradient.length; i++) a += gradient[i]! * gradient[i]!;
  return Math.sqrt(a + b + c + d) / Math.sqrt(Math.max(1, count));
}

/**
 * The lower median: the middle value, or the smaller of the two middle ones. With two
 * values it is the smaller, so one liar beside one honest worker cannot move it.
 */
export function lowerMedian(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/**
 * The slices whose gradient scale is more than OUTLIER_RATIO times the reference: the lower
 * median of the step's scales together with `recent` (the lower median of earlier steps, NaN
 * when there are none). With one slice and no history nothing is refused: there is nothing
 * to compare with.
 */
export function gradientOutliers(scales: readonly number[], recent: number): { readonly outliers: number[]; readonly reference: number } {
  const reference = lowerMedian(Number.isNaN(recent) ? scales : [...scales, recent]);
  if (!(reference > 0)) return { outliers: [], reference };
  return { outliers: scales.flatMap((scale, i) => (scale > OUTLIER_RATIO * reference ? [i] : [])), reference };
}

/** Indices of the answers much slower than the step's others (see SLOW_RATIO); none with fewer than two answers. */
export function slowAnswers(roundTripsMs: readonly number[]): number[] {
  if (roundTripsMs.length < 2) return [];
  const typical = lowerMedian(roundTripsMs);
  return roundTripsMs.flatMap((ms, i) => (ms > SLOW_RATIO * typical + SLOW_SLACK_MS ? [i] : []));
}

/** The lower median of the last `size` values pushed (NaN while empty): the recent steps' gradient scale. */
export class RecentScales {
  private readonly values: number[] = [];
  constructor(private readonly size = 16) {}
  push(value: number): void {
    this.values.push(value);
    if (this.values.length > this.size) this.values.shift();
  }
  get reference(): number {
    return lowerMedian(this.values);
  }
}
