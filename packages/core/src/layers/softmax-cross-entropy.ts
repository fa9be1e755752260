/**
 * The loss: softmax over the last dense layer's logits fused with categorical
 * cross-entropy (the fused gradient is simply probabilities - onehot, and the max-
 * subtracted form stays finite for any logits).
 *   logits [batch, classes], labels [batch] (integers stored as floats)
 *   loss_n = -log softmax(logits_n)[label_n];  dLogits = (probabilities - onehot) * gradientScale
 */
import type { FloatArray, Kernels } from '../kernels/kernels.js';

export interface LossResult {
  /** Sum of the per-image losses. */
  readonly lossSum: number;
  /** Images whose argmax equals the label. */
  readonly correct: number;
}

export class SoftmaxCrossEntropy<A extends FloatArray = Float32Array> {
  /** Probabilities of the last forward, [maxBatch, classes]. */
  readonly probabilities: A;
  /** Labels of the current chunk, as floats for the kernel. */
  readonly labels: A;
  private readonly result: A;

  constructor(
    private readonly kernels: Kernels<A>,
    readonly classes: number,
    maxBatch: number,
  ) {
    this.probabilities = kernels.allocate(maxBatch * classes);
    this.labels = kernels.allocate(maxBatch);
    this.result = kernels.allocate(2);
  }

  /** Forward and backward at once: writes probabilities and dLogits (scaled by gradientScale). Set `labels` first. */
  forwardBackward(batch: number, logits: A, dLogits: A, gradientScale: number): LossResult {
    this.kernels.softmaxCrossEntropy(batch, this.classes, logits, this.labels, this.probabilities, dLogits, gradientScale, this.result);
    return { lossSum: this.result[0]!, correct: this.result[1]! };
  }
}
