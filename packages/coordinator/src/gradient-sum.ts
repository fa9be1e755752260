/**
 * The ordered sum of a step's gradients. Workers answer in any order; the scheduler hands
 * the pieces back sorted by position, and they are added in that order, so the sum (and the
 * whole run) does not depend on timing: float addition is not associative.
 */
import type { Piece } from './scheduler.js';

export interface GradientTotals {
  /** Images the answers counted (a slice summed twice or lost would show here). */
  readonly count: number;
  readonly lossSum: number;
  readonly correct: number;
  /** Distinct workers that answered. */
  readonly workers: number;
}

/**
 * Writes the sum of the pieces' gradients into `into` (its previous contents are overwritten),
 * adding them in the order given, and totals their counts. Throws when the pieces do not tile
 * [0, batch) in order or a piece is not a gradient of the step.
 */
export function sumInSliceOrder(pieces: readonly Piece[], into: Float32Array, step: number): GradientTotals {
  let count = 0;
  let lossSum = 0;
  let correct = 0;
  const workers = new Set<number>();
  for (const [i, piece] of pieces.entries()) {
    const answer = piece.answer;
    if (answer.type !== 'gradient') throw new Error(`step ${step}: a training step got an evaluation answer`);
    if (piece.start !== count) throw new Error(`step ${step}: slices do not tile the batch (a slice starts at ${piece.start}, expected ${count})`);
    count += answer.count;
    const entries = answer.entries;
    if (entries !== undefined) {
      // A sparse answer (topk): only its entries are added; every other entry adds 0 (as the
      // dense sum would, up to the sign of a zero).
      if (i === 0) into.fill(0);
      addEntries(into, entries.indices, entries.values);
    } else {
      if (answer.gradient.length !== into.length) throw new Error(`step ${step}: a gradient of ${answer.gradient.length} values, the model has ${into.length}`);
      if (i === 0) into.set(answer.gradient);
      else addInto(into, answer.gradient);
    }
    lossSum += answer.lossSum;
    correct += answer.correct;
    workers.add(piece.workerId);
  }
  if (pieces.length === 0) into.fill(0);
  return { count, lossSum, correct, workers: workers.size };
}

/**
 * target[indices[j]] += values[j], for `indices` without repeats (a sparse answer's are
 * strictly increasing).
 * NOTE: eight entries at a time, all eight loads before the eight stores: the entries are
 * scattered over the 4.8 MB sum (a cache miss each), and grouped the CPU overlaps the
 * misses, where one `target[i] += value` after another ran several times slower.
 * Grouping is only right because no two entries of a list share an index.
 */
function addEntries(target: Float32Array, indices: Uint32Array, values: Float32Array): void {
  const length = indices.length;
  let j = 0;
  for (; j + 8 <= length; j += 8) {
    const i0 = indices[j]!, i1 = indices[j + 1]!, i2 = indices[j + 2]!, i3 = indices[j + 3]!;
    const i4 = indices[j + 4]!, i5 = indices[j + 5]!, i6 = indices[j + 6]!, i7 = indices[j + 7]!;
    const t0 = target[i0]!, t1 = target[i1]!, t2 = target[i2]!, t3 = target[i3]!;
    const t4 = target[i4]!, t5 = target[i5]!, t6 = target[i6]!, t7 = target[i7]!;
    target[i0] = t0 + values[j]!;
    target[i1] = t1 + values[j + 1]!;
    target[i2] = t2 + values[j + 2]!;
    target[i3] = t3 + values[j + 3]!;
    target[i4] = t4 + values[j + 4]!;
    target[i5] = t5 + values[j + 5]!;
    target[i6] = t6 + values[j + 6]!;
    target[i7] = t7 + values[j + 7]!;
  }
  for (; j < length; j++) {
    const index = indices[j]!;
    target[index] = target[index]! + values[j]!;
  }
}

/** target += source, elementwise. NOTE: kept monomorphic and tiny so the JIT makes it a tight loop. */
function addInto(target: Float32Array, source: Float32Array): void {
  const length = target.length;
  for (let i = 0; i < length; i++) target[i] = target[i]! + source[i]!;
}

/**
 * The indices of the pieces' sparse answers (each ascending), for CoordinatorWire.encode:
 * the sum is 0 off their union. Undefined when an answer is dense (the union is then everything).
 */
export function sparseAnswerIndices(pieces: readonly Piece[]): Uint32Array[] | undefined {
  const lists: Uint32Array[] = [];
  for (const piece of pieces) {
    const entries = piece.answer.type === 'gradient' ? piece.answer.entries : undefined;
    if (entries === undefined) return undefined;
    lists.push(entries.indices);
  }
  return lists;
}
