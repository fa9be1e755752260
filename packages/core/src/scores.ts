/**
 * Classification scores from predicted probabilities, defined once for every caller: the
 * worker's evaluation answers, the coordinator's evaluation rounds and `convoy eval`.
 *
 * Shapes: probabilities [rows, classes] row-major (softmax outputs); labels [rows], each in
 * 0..classes-1; a confusion matrix [classes, classes] with row = true class, column =
 * predicted class. Losses are natural-log cross-entropy, as training reports them.
 */

/**
 * Smallest probability fed to the log, so that a confident mistake costs a large finite
 * loss (-ln 1e-12, about 27.6) instead of Infinity.
 */
export const PROBABILITY_FLOOR = 1e-12;

/** -ln p, with p clamped to PROBABILITY_FLOOR: the cross-entropy of one image whose true class got probability p. */
export function crossEntropy(probability: number): number {
  // NOTE: 0 - ln p rather than -ln p, so that certainty scores +0, not -0.
  return 0 - Math.log(Math.max(probability, PROBABILITY_FLOOR));
}

/** Index of the largest value in row `row` of [rows, classes]; the first one on ties. */
export function argmaxRow(probabilities: Float32Array, row: number, classes: number): number {
  const start = row * classes;
  let best = 0;
  for (let k = 1; k < classes; k++) {
    if (probabilities[start + k]! > probabilities[start + best]!) best = k;
  }
  return best;
}

export interface BatchScore {
  /** Sum over the rows of crossEntropy(p[row, label]); divide by the count for the mean. */
  readonly lossSum: number;
  /** Rows whose argmax is the label. */
  readonly correct: number;
}

/**
 * Scores `labels.length` rows of `probabilities`. When `predictions` is given, its first
 * labels.length entries receive each row's argmax.
 */
export function scoreProbabilities(probabilities: Float32Array, labels: ArrayLike<number>, classes: number, predictions?: Uint8Array): BatchScore {
  if (probabilities.length < labels.length * classes) {
    throw new RangeError(`scoreProbabilities: ${labels.length} labels of ${classes} classes need ${labels.length * classes} probabilities, got ${probabilities.length}`);
  }
  let lossSum = 0;
  let correct = 0;
  for (let row = 0; row < labels.length; row++) {
    const label = labels[row]!;
    const predicted = argmaxRow(probabilities, row, classes);
    if (predictions !== undefined) predictions[row] = predicted;
    if (predicted === label) correct++;
    lossSum += crossEntropy(probabilities[row * classes + label]!);
  }
  return { lossSum, correct };
}

/**
 * Counts one image in `confusion` ([classes, classes], row = true class). Returns false, and
 * counts nothing, when `predicted` is not a class (an answer from outside is only bounded
 * by its type), so the caller can treat it as wrong.
 */
export function addToConfusion(confusion: { [cell: number]: number }, classes: number, label: number, predicted: number): boolean {
  if (!Number.isInteger(predicted) || predicted < 0 || predicted >= classes) return false;
  confusion[label * classes + predicted]!++;
  return true;
}
