/**
 * Cutting a range of a global batch into contiguous slices, one per worker, sized in
 * proportion to each worker's measured throughput (equal while nothing is measured).
 */

export interface Slice {
  /** Positions [start, end) in the global batch. */
  readonly start: number;
  readonly end: number;
  /** Index into the `rates` array the slice was cut for. */
  readonly worker: number;
}

/**
 * Splits [start, end) over workers with the given images/s (0 = unmeasured: such workers
 * count as the mean of the measured ones, or all equal when none is). Largest-remainder
 * rounding, so the sizes sum exactly to end - start; a worker may get an empty share,
 * which is omitted. Slices come back in position order (the order answers are summed in).
 */
export function proportionalSlices(start: number, end: number, rates: readonly number[]): Slice[] {
  const total = end - start;
  if (!(Number.isInteger(start) && Number.isInteger(end) && total >= 0)) throw new RangeError(`bad range [${start}, ${end})`);
  if (rates.length === 0 || total === 0) return [];
  const measured = rates.filter((rate) => rate > 0 && Number.isFinite(rate));
  const fallback = measured.length === 0 ? 1 : measured.reduce((a, b) => a + b, 0) / measured.length;
  const weights = rates.map((rate) => (rate > 0 && Number.isFinite(rate) ? rate : fallback));
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((weight) => (total * weight) / weightSum);
  const sizes = exact.map(Math.floor);
  let left = total - sizes.reduce((a, b) => a + b, 0);
  // Hand the remaining images to the largest fractional parts (ties: the earlier worker).
  const order = exact.map((value, i) => ({ i, fraction: value - Math.floor(value) })).sort((a, b) => b.fraction - a.fraction || a.i - b.i);
  for (const { i } of order) {
    if (left === 0) break;
    sizes[i]!++;
    left--;
  }
  const slices: Slice[] = [];
  let position = start;
  sizes.forEach((size, worker) => {
    if (size > 0) slices.push({ start: position, end: position + size, worker });
    position += size;
  });
  return slices;
}
