/**
 * Classification metrics of `convoy eval`, from predicted probabilities and true labels:
 * mean cross-entropy, accuracy, the confusion matrix, per-class precision and recall.
 * Loss, argmax and the confusion layout are core's (scores.ts), shared with evaluation rounds.
 */
import { addToConfusion, argmaxRow, crossEntropy } from '@convoy/core';

export interface ClassificationReport {
  readonly count: number;
  readonly classes: number;
  /** Mean of -ln p[label] (natural log, as training reports it). */
  readonly loss: number;
  readonly accuracy: number;
  /** confusion[trueClass * classes + predictedClass] = number of images. */
  readonly confusion: Uint32Array;
  /** Per class: correct / predicted as that class (NaN when never predicted). */
  readonly precision: Float64Array;
  /** Per class: correct / images of that class (NaN when the class is absent). */
  readonly recall: Float64Array;
  /** Images of each class in the data. */
  readonly support: Uint32Array;
}

/** Accumulates batches of (probabilities [n, classes], labels [n]) into one report. */
export class ClassificationAccumulator {
  private count = 0;
  private lossSum = 0;
  private readonly confusion: Uint32Array;

  constructor(readonly classes: number) {
    this.confusion = new Uint32Array(classes * classes);
  }

  add(probabilities: Float32Array, labels: Uint8Array): void {
    const classes = this.classes;
    for (let n = 0; n < labels.length; n++) {
      const label = labels[n]!;
      this.lossSum += crossEntropy(probabilities[n * classes + label]!);
      addToConfusion(this.confusion, classes, label, argmaxRow(probabilities, n, classes));
    }
    this.count += labels.length;
  }

  report(): ClassificationReport {
    const classes = this.classes;
    const precision = new Float64Array(classes);
    const recall = new Float64Array(classes);
    const support = new Uint32Array(classes);
    let correct = 0;
    for (let k = 0; k < classes; k++) {
      let predictedAsK = 0;
      let actuallyK = 0;
      for (let j = 0; j < classes; j++) {
        predictedAsK += this.confusion[j * classes + k]!;
        actuallyK += this.confusion[k * classes + j]!;
      }
      const hits = this.confusion[k * classes + k]!;
      correct += hits;
      precision[k] = predictedAsK === 0 ? Number.NaN : hits / predictedAsK;
      recall[k] = actuallyK === 0 ? Number.NaN : hits / actuallyK;
      support[k] = actuallyK;
    }
    return {
      count: this.count,
      classes,
      loss: this.count === 0 ? Number.NaN : this.lossSum / this.count,
      accuracy: this.count === 0 ? Number.NaN : correct / this.count,
      confusion: this.confusion.slice(),
      precision,
      recall,
      support,
    };
  }
}

function percent(value: number): string {
  return Number.isNaN(value) ? '-' : `${(100 * value).toFixed(2)}%`;
}

/** The report as a plain-text table (fixed-width columns, one row per class). */
export function formatReport(report: ClassificationReport): string {
  const { classes } = report;
  const lines: string[] = [];
  lines.push(`images    ${report.count}`);
  lines.push(`loss      ${report.loss.toFixed(4)}`);
  lines.push(`accuracy  ${percent(report.accuracy)}`);
  lines.push('');
  lines.push(`${'class'.padStart(5)}  ${'precision'.padStart(9)}  ${'recall'.padStart(7)}  ${'support'.padStart(8)}`);
  for (let k = 0; k < classes; k++) {
    lines.push(
      `${String(k).padStart(5)}  ${percent(report.precision[k]!).padStart(9)}  ${percent(report.recall[k]!).padStart(7)}  ${String(report.support[k]).padStart(8)}`,
    );
  }
  lines.push('');
  const width = Math.max(5, String(Math.max(...report.confusion)).length + 1);
  lines.push('confusion matrix (rows: true class, columns: predicted class)');
  lines.push(`${'true'.padStart(5)} ${Array.from({ length: classes }, (_, k) => String(k).padStart(width)).join('')}`);
  for (let k = 0; k < classes; k++) {
    const row = Array.from({ length: classes }, (_, j) => String(report.confusion[k * classes + j]).padStart(width)).join('');
    lines.push(`${String(k).padStart(5)} ${row}`);
  }
  return lines.join('\n');
}
