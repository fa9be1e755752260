/**
 * Bounded memory for long runs: a series keeps its newest points exactly and compacts
 * the older ones into min/max buckets, so a 10,000- or 1,000,000-step run holds at most
 * `maxPoints` points while every spike (the largest and smallest value of each bucket)
 * stays visible on the chart.
 *
 * Each compaction halves the old part (buckets of 4 points -> their min and max), so a
 * point survives several compactions as long as it stays a bucket extreme: the global
 * minimum and maximum of the whole run are never dropped. Cost: amortized O(1) a push.
 */

/**
 * Keeps the smallest and the largest point of each run of `bucketSize` points, in step
 * order (one point when they are the same). Returns new arrays of at most
 * 2 * ceil(n / bucketSize) points.
 */
export function minMaxDownsample(xs: ArrayLike<number>, ys: ArrayLike<number>, bucketSize: number): { xs: number[]; ys: number[] } {
  if (!Number.isInteger(bucketSize) || bucketSize < 2) throw new RangeError(`bucketSize must be an integer >= 2, got ${bucketSize}`);
  const outX: number[] = [];
  const outY: number[] = [];
  for (let start = 0; start < xs.length; start += bucketSize) {
    const end = Math.min(start + bucketSize, xs.length);
    let low = start;
    let high = start;
    for (let i = start + 1; i < end; i++) {
      if (ys[i]! < ys[low]!) low = i;
      if (ys[i]! > ys[high]!) high = i;
    }
    const first = Math.min(low, high);
    const second = Math.max(low, high);
    outX.push(xs[first]!);
    outY.push(ys[first]!);
    if (second !== first) {
      outX.push(xs[second]!);
      outY.push(ys[second]!);
    }
  }
  return { xs: outX, ys: outY };
}

export interface BoundedSeriesOptions {
  /** Most points held; reaching it compacts the old part. */
  readonly maxPoints: number;
  /** The newest points, always kept exactly (must be below maxPoints). */
  readonly recentPoints: number;
}

export const SERIES_DEFAULTS: BoundedSeriesOptions = { maxPoints: 4_000, recentPoints: 1_500 };

/** An append-only (x increasing) series with bounded memory. */
export class BoundedSeries {
  xs: number[] = [];
  ys: number[] = [];
  private readonly options: BoundedSeriesOptions;

  constructor(options: Partial<BoundedSeriesOptions> = {}) {
    this.options = { ...SERIES_DEFAULTS, ...options };
    const { maxPoints, recentPoints } = this.options;
    if (!(Number.isInteger(recentPoints) && recentPoints >= 1 && Number.isInteger(maxPoints) && maxPoints >= recentPoints + 8)) {
      throw new RangeError(`BoundedSeries needs 1 <= recentPoints and recentPoints + 8 <= maxPoints, got ${recentPoints} and ${maxPoints}`);
    }
  }

  get length(): number {
    return this.xs.length;
  }

  /** The last x, or -Infinity when empty. */
  get lastX(): number {
    return this.xs.length === 0 ? Number.NEGATIVE_INFINITY : this.xs[this.xs.length - 1]!;
  }

  /** Appends a point; a point not after the last one is ignored (a replayed record). */
  push(x: number, y: number): void {
    if (!(x > this.lastX)) return;
    this.xs.push(x);
    this.ys.push(y);
    if (this.xs.length >= this.options.maxPoints) this.compact();
  }

  clear(): void {
    this.xs = [];
    this.ys = [];
  }

  private compact(): void {
    const oldCount = this.xs.length - this.options.recentPoints;
    const old = minMaxDownsample(this.xs.slice(0, oldCount), this.ys.slice(0, oldCount), 4);
    this.xs = old.xs.concat(this.xs.slice(oldCount));
    this.ys = old.ys.concat(this.ys.slice(oldCount));
  }
}
