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

/** target[indices[j]] += values[j]. */
function addEntries(target: Float32Array, indices: Uint32Array, values: Float32Array): void {
  for (let j = 0; j < indices.length; j++) {
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
