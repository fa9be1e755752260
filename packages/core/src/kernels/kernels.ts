/**
 * The kernel interface: every numerical loop of a training step goes through it.
 *
 * Three backends implement it: the TypeScript reference (`reference.ts`, the readable
 * specification), a WebAssembly SIMD build (`wasm/`) and, in Node, native code compiled for
 * the CPU (`native/`, through @convoy/core/node); one conformance suite runs every kernel
 * of every backend against the reference.
 *
 * Conventions (PyTorch's layout, see DESIGN.md):
 * - activations are NCHW, contiguous; a dense input is [batch, features];
 * - conv weight [outChannels, inChannels, kernelHeight, kernelWidth]; dense weight [out, in];
 * - kernels that produce a parameter gradient ACCUMULATE (dW += ...), so the gradient of a
 *   batch processed in chunks is the sum over the chunks; kernels that produce an
 *   activation or an activation gradient OVERWRITE their output;
 * - every array argument must come from this backend's `allocate` (or be a subarray of
 *   such an array): the WebAssembly backend passes their addresses, never copies.
 */

/** Float32Array for every backend; the reference can also run in float64 (gradient checks). */
export type FloatArray = Float32Array | Float64Array;

export type KernelsName = 'ts' | 'wasm' | 'native';

export interface Conv2DGeometry {
  readonly batch: number;
  readonly inChannels: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly outChannels: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly kernelHeight: number;
  readonly kernelWidth: number;
  readonly strideY: number;
  readonly strideX: number;
  /** Zero padding before the first row / column; the padding after is implied by the output size. */
  readonly padTop: number;
  readonly padLeft: number;
}

export interface Pool2DGeometry {
  readonly batch: number;
  readonly channels: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly poolHeight: number;
  readonly poolWidth: number;
  readonly strideY: number;
  readonly strideX: number;
}

/** Average pooling may pad ('same'); the padding after is implied by the output size. */
export interface AvgPool2DGeometry extends Pool2DGeometry {
  readonly padTop: number;
  readonly padLeft: number;
}

export interface Kernels<A extends FloatArray = Float32Array> {
  readonly name: KernelsName;
  /** Human-readable detail, e.g. "wasm (relaxed SIMD)". */
  readonly description: string;

  /**
   * A zeroed array of `length` elements that the kernels can address. It stays valid for
   * the life of the backend (NOTE: the WebAssembly backend never grows its memory after
   * handing out views, because `memory.grow` detaches every view).
   */
  allocate(length: number): A;

  /** Length of the scratch array that the conv2d kernels need for `geometry` (im2col columns). */
  conv2dScratchLength(geometry: Conv2DGeometry): number;

  /**
   * output[n,o,y,x] = bias[o] + sum_{c,i,j} weight[o,c,i,j] * input[n,c,y*sy+i-padTop,x*sx+j-padLeft] (zero outside).
   * With `relu` (default false) output = max(0, that), bit for bit what reluForward after it
   * gives: the model's conv2d + ReLU in one pass over the output.
   */
  conv2dForward(g: Conv2DGeometry, input: A, weight: A, bias: A, output: A, scratch: A, relu?: boolean): void;
  /** dWeight += d output / d weight contracted with dOutput; dBias[o] += sum over n,y,x of dOutput. */
  conv2dBackwardFilter(g: Conv2DGeometry, input: A, dOutput: A, dWeight: A, dBias: A, scratch: A): void;
  /** dInput = (transposed convolution of dOutput with weight); overwrites dInput. */
  conv2dBackwardInput(g: Conv2DGeometry, weight: A, dOutput: A, dInput: A, scratch: A): void;

  /** output = max over each window (windows never read outside the input: 'valid' pooling). */
  maxPool2dForward(g: Pool2DGeometry, input: A, output: A): void;
  /** dInput = dOutput routed to the first position of each window that holds the max; overwrites dInput. */
  maxPool2dBackward(g: Pool2DGeometry, input: A, output: A, dOutput: A, dInput: A): void;

  /**
   * output = mean of each window over the cells inside the input: a window that reaches
   * into the padding divides by the number of cells it covers, not by poolHeight*poolWidth
   * (Keras's AveragePooling2D, ONNX AveragePool with count_include_pad 0).
   */
  avgPool2dForward(g: AvgPool2DGeometry, input: A, output: A): void;
  /** dInput[c] = sum over the windows w covering cell c of dOutput[w] / count(w); overwrites dInput. */
  avgPool2dBackward(g: AvgPool2DGeometry, dOutput: A, dInput: A): void;

  /** output[n,o] = bias[o] + sum_i input[n,i] * weight[o,i]. */
  denseForward(batch: number, inFeatures: number, outFeatures: number, input: A, weight: A, bias: A, output: A): void;
  /** dWeight += dOutput^T input; dBias += column sums of dOutput; dInput = dOutput weight (skipped when null). */
  denseBackward(
    batch: number,
    inFeatures: number,
    outFeatures: number,
    input: A,
    weight: A,
    dOutput: A,
    dWeight: A,
    dBias: A,
    dInput: A | null,
  ): void;

  /** output = max(input, 0); output may be input. */
  reluForward(length: number, input: A, output: A): void;
  /** dInput = output > 0 ? dOutput : 0; dInput may be dOutput. */
  reluBackward(length: number, output: A, dOutput: A, dInput: A): void;
  /** output = a * b elementwise (dropout masks); output may alias a or b. */
  multiply(length: number, a: A, b: A, output: A): void;

  /**
   * Softmax over each row of logits [batch, classes] with categorical cross-entropy
   * against integer labels (stored as floats: 0..classes-1), computed stably (max subtracted).
   * Writes probabilities and dLogits = (probabilities - onehot) * gradientScale, and
   * result[0] = sum of the losses, result[1] = number of rows whose argmax equals the label.
   */
  softmaxCrossEntropy(
    batch: number,
    classes: number,
    logits: A,
    labels: A,
    probabilities: A,
    dLogits: A,
    gradientScale: number,
    result: A,
  ): void;

  /** x *= factor. */
  scale(length: number, x: A, factor: number): void;

  /** SGD (Robbins & Monro 1951) with optional momentum and Nesterov momentum (Sutskever et al. 2013, Keras form). */
  sgdUpdate(length: number, params: A, grads: A, velocity: A, learningRate: number, momentum: number, nesterov: boolean): void;
  /** Adadelta (Zeiler 2012) with Keras's learning_rate factor. */
  adadeltaUpdate(
    length: number,
    params: A,
    grads: A,
    accumulatedGrad: A,
    accumulatedDelta: A,
    learningRate: number,
    rho: number,
    epsilon: number,
  ): void;
  /** Adam (Kingma & Ba 2015, Algorithm 1); `step` is t >= 1 for bias correction. */
  adamUpdate(
    length: number,
    params: A,
    grads: A,
    m: A,
    v: A,
    learningRate: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    step: number,
  ): void;
}
