/**
 * How a threaded worker cuts its slice and joins the answers: contiguous parts (thread k
 * takes the k-th), and sums added in part order, never in the order threads finish, so
 * the result does not depend on scheduling (the coordinator does the same across workers).
 */

export interface Part {
  /** First item of the part. */
  readonly start: number;
  /** One past its last item. */
  readonly end: number;
}

/**
 * `count` items cut into min(parts, count) contiguous, non-empty parts in order, whose sizes
 * differ by at most one (the larger ones first). count 0 gives no parts.
 */
export function contiguousParts(count: number, parts: number): Part[] {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`contiguousParts: count must be an integer >= 0, got ${count}`);
  if (!Number.isSafeInteger(parts) || parts < 1) throw new RangeError(`contiguousParts: parts must be an integer >= 1, got ${parts}`);
  const used = Math.min(parts, count);
  const base = Math.floor(count / used);
  const larger = count - base * used;
  const result: Part[] = [];
  let start = 0;
  for (let k = 0; k < used; k++) {
    const end = start + base + (k < larger ? 1 : 0);
    result.push({ start, end });
    start = end;
  }
  return result;
}

/**
 * target = terms[0] + terms[1] + ... added left to right in float32 (each partial sum
 * rounded to float32, as one thread accumulating chunk after chunk would). All the same length.
 */
export function sumInOrder(target: Float32Array, terms: readonly Float32Array[]): Float32Array {
  const first = terms[0];
  if (first === undefined) return target.fill(0);
  for (const term of terms) {
    if (term.length !== target.length) throw new RangeError(`sumInOrder: a term of ${term.length} values for a target of ${target.length}`);
  }
  target.set(first);
  for (let k = 1; k < terms.length; k++) {
    const term = terms[k]!;
    for (let i = 0; i < target.length; i++) target[i]! += term[i]!;
  }
  return target;
}
