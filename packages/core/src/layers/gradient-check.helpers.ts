/**
 * Central differences for the gradient-check tests (float64 reference kernels).
 *   numeric_i = (f(x + h e_i) - f(x - h e_i)) / (2h),   error_i = |analytic_i - numeric_i| / max(|analytic_i|, |numeric_i|, floor)
 * The floor keeps near-zero gradients from turning float64 round-off (about 1e-16 * |f| / h,
 * 1e-10 for |f| ~ 10) into a large relative error: above 1e-3 the error is relative, below
 * it is the absolute error times 1e3 (so a tolerance of 1e-6 means 1e-9 absolute there).
 */
import type { FloatArray } from '../kernels/kernels.js';
import { Rng } from '../rng.js';

export const STEP = 1e-5;
export const FLOOR = 1e-3;

export interface CheckResult {
  /** Largest relative error over the checked entries. */
  readonly maxRelativeError: number;
  /** Where it happened, with both values, for the failure message. */
  readonly worst: string;
  readonly checked: number;
}

/**
 * Checks analytic[i] against central differences of f with respect to x[i], for each i in
 * `indices` (all of x when omitted). x is perturbed in place and restored.
 */
export function checkGradient(name: string, f: () => number, x: FloatArray, analytic: ArrayLike<number>, indices?: ArrayLike<number>, step = STEP): CheckResult {
  let maxRelativeError = 0;
  let worst = `${name}: nothing checked`;
  const count = indices === undefined ? x.length : indices.length;
  for (let n = 0; n < count; n++) {
    const i = indices === undefined ? n : indices[n]!;
    const saved = x[i]!;
    x[i] = saved + step;
    const plus = f();
    x[i] = saved - step;
    const minus = f();
    x[i] = saved;
    const numeric = (plus - minus) / (2 * step);
    const a = analytic[i]!;
    const error = Math.abs(a - numeric) / Math.max(Math.abs(a), Math.abs(numeric), FLOOR);
    if (error >= maxRelativeError) {
      maxRelativeError = error;
      worst = `${name}[${i}]: analytic ${a}, numeric ${numeric}, relative error ${error.toExponential(2)}`;
    }
  }
  return { maxRelativeError, worst, checked: count };
}

export function randomFill<A extends FloatArray>(rng: Rng, x: A, low = -1, high = 1): A {
  for (let i = 0; i < x.length; i++) x[i] = rng.uniform(low, high);
  return x;
}

/** `count` distinct indices in [0, length), drawn with `rng` (all of them when count >= length). */
export function sampleIndices(rng: Rng, length: number, count: number): Uint32Array {
  return count >= length ? Uint32Array.from({ length }, (_, i) => i) : rng.permutation(length).slice(0, count);
}

/** sum_i a[i] * b[i]: a scalar loss whose gradient with respect to a is b. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>, length = a.length): number {
  let sum = 0;
  for (let i = 0; i < length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** Measured errors, printed once per file so the figures can be reported. */
export function record(results: Map<string, CheckResult>, name: string, result: CheckResult): void {
  results.set(name, result);
}

export function printResults(title: string, results: Map<string, CheckResult>): void {
  const lines = [...results].map(([name, r]) => `  ${name.padEnd(64)} max rel err ${r.maxRelativeError.toExponential(2)} over ${r.checked}`);
  console.log(`${title} (floor ${FLOOR}):\n${lines.join('\n')}`);
}
