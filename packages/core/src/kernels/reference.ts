/**
 * The TypeScript reference kernels: the readable specification of every numerical loop.
 * The WebAssembly backend must agree with these (one conformance suite runs both).
 *
 * Convolution is im2col followed by a plain matrix product, one image at a time:
 *   columns [inChannels*kernelHeight*kernelWidth, outHeight*outWidth] (per image)
 *   output[o, p] = bias[o] + sum_k weight[o, k] * columns[k, p]
 * so the three conv kernels are three matrix products over the same `columns` layout.
 *
 * Dot products (dense forward, conv filter gradient, softmax) are summed in JavaScript
 * numbers (float64) and stored once; the row-wise products (conv forward and backward input,
 * dense backward) add into the output array four rows at a time, so in float32 they round
 * once per four terms. `precision: 64` stores float64 throughout (gradient checks).
 */
import type { AvgPool2DGeometry, Conv2DGeometry, FloatArray, Kernels, Pool2DGeometry } from './kernels.js';
import { addDotProducts, addLinearCombination, col2imAdd, im2col } from './reference-loops.js';

export interface ReferenceKernelsOptions {
  /** 32 (default) allocates Float32Array; 64 allocates Float64Array for tight gradient checks. */
  readonly precision?: 32 | 64;
}

export function createReferenceKernels(options?: { readonly precision?: 32 }): Kernels<Float32Array>;
export function createReferenceKernels(options: { readonly precision: 64 }): Kernels<Float64Array>;
export function createReferenceKernels(options?: ReferenceKernelsOptions): Kernels<Float32Array> | Kernels<Float64Array>;
export function createReferenceKernels(options: ReferenceKernelsOptions = {}): Kernels<Float32Array> | Kernels<Float64Array> {
  const precision = options.precision ?? 32;
  if (precision === 64) return new ReferenceKernels<Float64Array>((length) => new Float64Array(length), 'ts (reference, float64)');
  if (precision === 32) return new ReferenceKernels<Float32Array>((length) => new Float32Array(length), 'ts (reference, float32)');
  throw new RangeError(`createReferenceKernels: precision must be 32 or 64, got ${String(precision)}`);
}

class ReferenceKernels<A extends FloatArray> implements Kernels<A> {
  readonly name = 'ts' as const;

  constructor(
    private readonly create: (length: number) => A,
    readonly description: string,
  ) {}

  allocate(length: number): A {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`allocate: length must be a non-negative integer, got ${length}`);
    return this.create(length);
  }

  conv2dScratchLength(g: Conv2DGeometry): number {
    return g.inChannels * g.kernelHeight * g.kernelWidth * g.outHeight * g.outWidth;
  }

  conv2dForward(g: Conv2DGeometry, input: A, weight: A, bias: A, output: A, columns: A, relu = false): void {
    const positions = g.outHeight * g.outWidth;
    const depth = g.inChannels * g.kernelHeight * g.kernelWidth;
    for (let n = 0; n < g.batch; n++) {
      im2col(g, input, n * g.inChannels * g.inHeight * g.inWidth, columns);
      const imageOffset = n * g.outChannels * positions;
      // output[o, :] = bias[o] + sum_k weight[o, k] * columns[k, :]
      for (let o = 0; o < g.outChannels; o++) {
        const outOffset = imageOffset + o * positions;
        output.fill(bias[o]!, outOffset, outOffset + positions);
        addLinearCombination(output, outOffset, positions, weight, o * depth, 1, columns, 0, positions, depth);
      }
    }
    if (relu) this.reluForward(g.batch * g.outChannels * positions, output, output);
  }

  conv2dBackwardFilter(g: Conv2DGeometry, input: A, dOutput: A, dWeight: A, dBias: A, columns: A): void {
    const positions = g.outHeight * g.outWidth;
    const depth = g.inChannels * g.kernelHeight * g.kernelWidth;
    for (let n = 0; n < g.batch; n++) {
      im2col(g, input, n * g.inChannels * g.inHeight * g.inWidth, columns);
      const imageOffset = n * g.outChannels * positions;
      // dWeight[o, k] += sum_p dOutput[o, p] * columns[k, p]; dBias[o] += sum_p dOutput[o, p]
      for (let o = 0; o < g.outChannels; o++) {
        const dOutOffset = imageOffset + o * positions;
        let biasSum = 0;
        for (let p = 0; p < positions; p++) biasSum += dOutput[dOutOffset + p]!;
        dBias[o] = dBias[o]! + biasSum;
        addDotProducts(dWeight, o * depth, dOutput, dOutOffset, columns, 0, positions, depth, positions);
      }
    }
  }

  conv2dBackwardInput(g: Conv2DGeometry, weight: A, dOutput: A, dInput: A, columns: A): void {
    const positions = g.outHeight * g.outWidth;
    const depth = g.inChannels * g.kernelHeight * g.kernelWidth;
    const inputSize = g.inChannels * g.inHeight * g.inWidth;
    dInput.fill(0, 0, g.batch * inputSize);
    for (let n = 0; n < g.batch; n++) {
      const imageOffset = n * g.outChannels * positions;
      // columns[k, :] = sum_o weight[o, k] * dOutput[o, :], then scattered back onto the image
      columns.fill(0, 0, depth * positions);
      for (let k = 0; k < depth; k++) {
        addLinearCombination(columns, k * positions, positions, weight, k, depth, dOutput, imageOffset, positions, g.outChannels);
      }
      col2imAdd(g, columns, dInput, n * inputSize);
    }
  }

  maxPool2dForward(g: Pool2DGeometry, input: A, output: A): void {
    const planes = g.batch * g.channels;
    for (let plane = 0; plane < planes; plane++) {
      const inOffset = plane * g.inHeight * g.inWidth;
      const outOffset = plane * g.outHeight * g.outWidth;
      for (let y = 0; y < g.outHeight; y++) {
        for (let x = 0; x < g.outWidth; x++) {
          let max = -Infinity;
          for (let i = 0; i < g.poolHeight; i++) {
            const rowOffset = inOffset + (y * g.strideY + i) * g.inWidth + x * g.strideX;
            for (let j = 0; j < g.poolWidth; j++) max = Math.max(max, input[rowOffset + j]!);
          }
          output[outOffset + y * g.outWidth + x] = max;
        }
      }
    }
  }

  maxPool2dBackward(g: Pool2DGeometry, input: A, output: A, dOutput: A, dInput: A): void {
    const planes = g.batch * g.channels;
    dInput.fill(0, 0, planes * g.inHeight * g.inWidth);
    for (let plane = 0; plane < planes; plane++) {
      const inOffset = plane * g.inHeight * g.inWidth;
      const outOffset = plane * g.outHeight * g.outWidth;
      for (let y = 0; y < g.outHeight; y++) {
        for (let x = 0; x < g.outWidth; x++) {
          const max = output[outOffset + y * g.outWidth + x]!;
          // NOTE: ties go to the first position in row-major order; overlapping windows (stride < pool) add up.
          search: for (let i = 0; i < g.poolHeight; i++) {
            const rowOffset = inOffset + (y * g.strideY + i) * g.inWidth + x * g.strideX;
            for (let j = 0; j < g.poolWidth; j++) {
              if (input[rowOffset + j] === max) {
                dInput[rowOffset + j] = dInput[rowOffset + j]! + dOutput[outOffset + y * g.outWidth + x]!;
                break search;
              }
            }
          }
        }
      }
    }
  }

  avgPool2dForward(g: AvgPool2DGeometry, input: A, output: A): void {
    const planes = g.batch * g.channels;
    for (let plane = 0; plane < planes; plane++) {
      const inOffset = plane * g.inHeight * g.inWidth;
      const outOffset = plane * g.outHeight * g.outWidth;
      for (let y = 0; y < g.outHeight; y++) {
        // The window's rows clipped to the input: padded cells are not counted.
        const top = Math.max(y * g.strideY - g.padTop, 0);
        const bottom = Math.min(y * g.strideY - g.padTop + g.poolHeight, g.inHeight);
        for (let x = 0; x < g.outWidth; x++) {
          const left = Math.max(x * g.strideX - g.padLeft, 0);
          const right = Math.min(x * g.strideX - g.padLeft + g.poolWidth, g.inWidth);
          let sum = 0;
          for (let i = top; i < bottom; i++) {
            for (let j = left; j < right; j++) sum += input[inOffset + i * g.inWidth + j]!;
          }
          output[outOffset + y * g.outWidth + x] = sum / ((bottom - top) * (right - left));
        }
      }
    }
  }

  avgPool2dBackward(g: AvgPool2DGeometry, dOutput: A, dInput: A): void {
    const planes = g.batch * g.channels;
    dInput.fill(0, 0, planes * g.inHeight * g.inWidth);
    for (let plane = 0; plane < planes; plane++) {
      const inOffset = plane * g.inHeight * g.inWidth;
      const outOffset = plane * g.outHeight * g.outWidth;
      for (let y = 0; y < g.outHeight; y++) {
        const top = Math.max(y * g.strideY - g.padTop, 0);
        const bottom = Math.min(y * g.strideY - g.padTop + g.poolHeight, g.inHeight);
        for (let x = 0; x < g.outWidth; x++) {
          const left = Math.max(x * g.strideX - g.padLeft, 0);
          const right = Math.min(x * g.strideX - g.padLeft + g.poolWidth, g.inWidth);
          // Each covered cell had weight 1/count in the mean; overlapping windows add up.
          const share = dOutput[outOffset + y * g.outWidth + x]! / ((bottom - top) * (right - left));
          for (let i = top; i < bottom; i++) {
            for (let j = left; j < right; j++) dInput[inOffset + i * g.inWidth + j] = dInput[inOffset + i * g.inWidth + j]! + share;
          }
        }
      }
    }
  }

  denseForward(batch: number, inFeatures: number, outFeatures: number, input: A, weight: A, bias: A, output: A): void {
    // output[n, o] = bias[o] + sum_i input[n, i] * weight[o, i]
    for (let n = 0; n < batch; n++) {
      output.set(bias.subarray(0, outFeatures), n * outFeatures);
      addDotProducts(output, n * outFeatures, input, n * inFeatures, weight, 0, inFeatures, outFeatures, inFeatures);
    }
  }

  denseBackward(batch: number, inFeatures: number, outFeatures: number, input: A, weight: A, dOutput: A, dWeight: A, dBias: A, dInput: A | null): void {
    // dWeight[o, :] += sum_n dOutput[n, o] * input[n, :]; dBias[o] += sum_n dOutput[n, o]
    for (let o = 0; o < outFeatures; o++) {
      let biasSum = 0;
      for (let n = 0; n < batch; n++) biasSum += dOutput[n * outFeatures + o]!;
      dBias[o] = dBias[o]! + biasSum;
      addLinearCombination(dWeight, o * inFeatures, inFeatures, dOutput, o, outFeatures, input, 0, inFeatures, batch);
    }
    if (dInput === null) return;
    // dInput[n, :] = sum_o dOutput[n, o] * weight[o, :]
    dInput.fill(0, 0, batch * inFeatures);
    for (let n = 0; n < batch; n++) {
      addLinearCombination(dInput, n * inFeatures, inFeatures, dOutput, n * outFeatures, 1, weight, 0, inFeatures, outFeatures);
    }
  }

  reluForward(length: number, input: A, output: A): void {
    for (let i = 0; i < length; i++) output[i] = input[i]! > 0 ? input[i]! : 0;
  }

  reluBackward(length: number, output: A, dOutput: A, dInput: A): void {
    for (let i = 0; i < length; i++) dInput[i] = output[i]! > 0 ? dOutput[i]! : 0;
  }

  multiply(length: number, a: A, b: A, output: A): void {
    for (let i = 0; i < length; i++) output[i] = a[i]! * b[i]!;
  }

  softmaxCrossEntropy(batch: number, classes: number, logits: A, labels: A, probabilities: A, dLogits: A, gradientScale: number, result: A): void {
    let lossSum = 0;
    let correct = 0;
    for (let n = 0; n < batch; n++) {
      const offset = n * classes;
      const label = labels[n]!;
      // Subtracting the max keeps exp() in (0, 1]: logits of +-1e4 stay finite.
      let max = -Infinity;
      let argmax = 0;
      for (let k = 0; k < classes; k++) {
        if (logits[offset + k]! > max) {
          max = logits[offset + k]!;
          argmax = k;
        }
      }
      let sum = 0;
      for (let k = 0; k < classes; k++) sum += Math.exp(logits[offset + k]! - max);
      // loss = -log softmax(z)[label] = log(sum_k exp(z_k - max)) - (z_label - max)
      lossSum += Math.log(sum) - (logits[offset + label]! - max);
      if (argmax === label) correct++;
      for (let k = 0; k < classes; k++) {
        const probability = Math.exp(logits[offset + k]! - max) / sum;
        probabilities[offset + k] = probability;
        dLogits[offset + k] = (probability - (k === label ? 1 : 0)) * gradientScale;
      }
    }
    result[0] = lossSum;
    result[1] = correct;
  }

  scale(length: number, x: A, factor: number): void {
    for (let i = 0; i < length; i++) x[i] = x[i]! * factor;
  }

  sgdUpdate(length: number, params: A, grads: A, velocity: A, learningRate: number, momentum: number, nesterov: boolean): void {
    // Keras: v = momentum*v - lr*g; p += nesterov ? momentum*v - lr*g : v   (momentum 0: plain SGD)
    for (let i = 0; i < length; i++) {
      const g = grads[i]!;
      const v = momentum * velocity[i]! - learningRate * g;
      velocity[i] = v;
      params[i] = params[i]! + (nesterov ? momentum * v - learningRate * g : v);
    }
  }

  adadeltaUpdate(length: number, params: A, grads: A, accumulatedGrad: A, accumulatedDelta: A, learningRate: number, rho: number, epsilon: number): void {
    // Zeiler 2012, Algorithm 1, with Keras's learning_rate factor on the step.
    for (let i = 0; i < length; i++) {
      const g = grads[i]!;
      const accG = rho * accumulatedGrad[i]! + (1 - rho) * g * g;
      accumulatedGrad[i] = accG;
      const delta = (Math.sqrt(accumulatedDelta[i]! + epsilon) / Math.sqrt(accG + epsilon)) * g;
      accumulatedDelta[i] = rho * accumulatedDelta[i]! + (1 - rho) * delta * delta;
      params[i] = params[i]! - learningRate * delta;
    }
  }

  adamUpdate(length: number, params: A, grads: A, m: A, v: A, learningRate: number, beta1: number, beta2: number, epsilon: number, step: number): void {
    // Kingma & Ba 2015, Algorithm 1: bias-corrected first and second moments.
    const correction1 = 1 - Math.pow(beta1, step);
    const correction2 = 1 - Math.pow(beta2, step);
    for (let i = 0; i < length; i++) {
      const g = grads[i]!;
      const mi = beta1 * m[i]! + (1 - beta1) * g;
      const vi = beta2 * v[i]! + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] = params[i]! - (learningRate * (mi / correction1)) / (Math.sqrt(vi / correction2) + epsilon);
    }
  }
}
