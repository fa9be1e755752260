/**
 * Exponential moving average of a curve, as TensorBoard's smoothing slider does it, with
 * two changes for Convoy's downsampled series:
 *
 *   - debiased: the running weight starts at 0, so the first smoothed point equals the
 *     first raw point instead of being pulled towards 0;
 *   - gap-aware: a point `gap` steps after the previous one decays the old average by
 *     smoothing^gap, so smoothing a downsampled series (min/max buckets keep only some
 *     steps) gives what smoothing every step would have given had the skipped steps held
 *     the same value.
 *
 *   average_t = smoothing^gap * average_{t-1} + (1 - smoothing^gap) * value_t
 *   weight_t  = smoothing^gap * weight_{t-1}  + (1 - smoothing^gap)
 *   smoothed_t = average_t / weight_t
 */

/** `smoothing` in [0, 1): 0 returns the raw values, 0.99 averages over about 100 steps. */
export function emaSmooth(steps: ArrayLike<number>, values: ArrayLike<number>, smoothing: number): Float64Array {
  if (!(smoothing >= 0 && smoothing < 1)) throw new RangeError(`smoothing must be in [0, 1), got ${smoothing}`);
  if (steps.length !== values.length) throw new RangeError(`steps (${steps.length}) and values (${values.length}) differ in length`);
  const smoothed = new Float64Array(values.length);
  let average = 0;
  let weight = 0;
  let previousStep = Number.NaN;
  for (let i = 0; i < values.length; i++) {
    const step = steps[i]!;
    // NOTE: a first point, or two points on the same step, count as one step apart.
    const gap = Number.isNaN(previousStep) ? 1 : Math.max(1, step - previousStep);
    const decay = smoothing ** gap;
    average = decay * average + (1 - decay) * values[i]!;
    weight = decay * weight + (1 - decay);
    smoothed[i] = average / weight;
    previousStep = step;
  }
  return smoothed;
}
