/**
 * The non-convolution kernels of the WebAssembly backend: dense (through the GEMM),
 * max pooling, elementwise maps, softmax cross-entropy and the optimizer updates.
 * Same semantics as the TypeScript reference (kernels/reference.ts); addresses are bytes.
 */
import { gemm } from './gemm';
import { fill } from './conv';

/** output[n, o] = bias[o] + sum_i input[n, i] * weight[o, i]  (weight [out, in] is the transposed operand). */
export function denseForward(batch: i32, inFeatures: i32, outFeatures: i32, input: usize, weight: usize, bias: usize, output: usize): void {
  for (let n = 0; n < batch; n++) {
    const row = output + (<usize>(n * outFeatures) << 2);
    memory.copy(row, bias, <usize>outFeatures << 2);
  }
  gemm(batch, outFeatures, inFeatures, input, inFeatures, 1, weight, 1, inFeatures, output, outFeatures, 1, true);
}

/** dWeight += dOutput^T input; dBias += column sums of dOutput; dInput = dOutput weight (when dInput != 0). */
export function denseBackward(
  batch: i32, inFeatures: i32, outFeatures: i32,
  input: usize, weight: usize, dOutput: usize, dWeight: usize, dBias: usize, dInput: usize,
): void {
  gemm(outFeatures, inFeatures, batch, dOutput, 1, outFeatures, input, inFeatures, 1, dWeight, inFeatures, 1, true);
  for (let n = 0; n < batch; n++) {
    const row = dOutput + (<usize>(n * outFeatures) << 2);
    let o = 0;
    for (; o + 4 <= outFeatures; o += 4) {
      const offset = <usize>o << 2;
      v128.store(dBias + offset, f32x4.add(v128.load(dBias + offset), v128.load(row + offset)));
    }
    for (; o < outFeatures; o++) {
      const offset = <usize>o << 2;
      store<f32>(dBias + offset, load<f32>(dBias + offset) + load<f32>(row + offset));
    }
  }
  if (dInput == 0) return;
  gemm(batch, inFeatures, outFeatures, dOutput, outFeatures, 1, weight, inFeatures, 1, dInput, inFeatures, 1, false);
}

export function maxPool2dForward(
  batch: i32, channels: i32, inHeight: i32, inWidth: i32, outHeight: i32, outWidth: i32,
  poolHeight: i32, poolWidth: i32, strideY: i32, strideX: i32, input: usize, output: usize,
): void {
  const planes = batch * channels;
  let out = output;
  for (let plane = 0; plane < planes; plane++) {
    const inPlane = input + (<usize>(plane * inHeight * inWidth) << 2);
    for (let y = 0; y < outHeight; y++) {
      for (let x = 0; x < outWidth; x++) {
        let best = -Infinity as f32;
        for (let i = 0; i < poolHeight; i++) {
          const row = inPlane + (<usize>((y * strideY + i) * inWidth + x * strideX) << 2);
          for (let j = 0; j < poolWidth; j++) best = max(best, load<f32>(row + (<usize>j << 2)));
        }
        store<f32>(out, best);
        out += 4;
      }
    }
  }
}

/** dInput = dOutput routed to the first (row-major) position equal to the window's max; overlaps add. */
export function maxPool2dBackward(
  batch: i32, channels: i32, inHeight: i32, inWidth: i32, outHeight: i32, outWidth: i32,
  poolHeight: i32, poolWidth: i32, strideY: i32, strideX: i32,
  input: usize, output: usize, dOutput: usize, dInput: usize,
): void {
  const planes = batch * channels;
  memory.fill(dInput, 0, <usize>(planes * inHeight * inWidth) << 2);
  let index: usize = 0;
  for (let plane = 0; plane < planes; plane++) {
    const planeOffset = <usize>(plane * inHeight * inWidth) << 2;
    for (let y = 0; y < outHeight; y++) {
      for (let x = 0; x < outWidth; x++) {
        const best = load<f32>(output + index);
        const gradient = load<f32>(dOutput + index);
        index += 4;
        let found = false;
        for (let i = 0; i < poolHeight && !found; i++) {
          const rowOffset = planeOffset + (<usize>((y * strideY + i) * inWidth + x * strideX) << 2);
          for (let j = 0; j < poolWidth; j++) {
            const offset = rowOffset + (<usize>j << 2);
            if (load<f32>(input + offset) == best) {
              store<f32>(dInput + offset, load<f32>(dInput + offset) + gradient);
              found = true;
              break;
            }
          }
        }
      }
    }
  }
}

/** output = input > 0 ? input : 0 (NaN -> 0, like the reference); output may be input. */
export function reluForward(length: i32, input: usize, output: usize): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const x = v128.load(input + offset);
    v128.store(output + offset, v128.and(x, f32x4.gt(x, zero)));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const x = load<f32>(input + offset);
    store<f32>(output + offset, x > 0 ? x : 0);
  }
}

/** dInput = output > 0 ? dOutput : 0; dInput may be dOutput. */
export function reluBackward(length: i32, output: usize, dOutput: usize, dInput: usize): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    v128.store(dInput + offset, v128.and(v128.load(dOutput + offset), f32x4.gt(v128.load(output + offset), zero)));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    store<f32>(dInput + offset, load<f32>(output + offset) > 0 ? load<f32>(dOutput + offset) : 0);
  }
}

export function multiply(length: i32, a: usize, b: usize, output: usize): void {
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    v128.store(output + offset, f32x4.mul(v128.load(a + offset), v128.load(b + offset)));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    store<f32>(output + offset, load<f32>(a + offset) * load<f32>(b + offset));
  }
}

export function scale(length: i32, x: usize, factor: f32): void {
  const f = f32x4.splat(factor);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    v128.store(x + offset, f32x4.mul(v128.load(x + offset), f));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    store<f32>(x + offset, load<f32>(x + offset) * factor);
  }
}

/**
 * Stable softmax + cross-entropy per row, in float64 like the reference (10 classes: the
 * cost is nothing next to the convolutions). result[0] = loss sum, result[1] = correct rows.
 */
export function softmaxCrossEntropy(
  batch: i32, classes: i32, logits: usize, labels: usize, probabilities: usize, dLogits: usize, gradientScale: f64, result: usize,
): void {
  let lossSum: f64 = 0;
  let correct = 0;
  for (let n = 0; n < batch; n++) {
    const row = <usize>(n * classes) << 2;
    const label = <i32>load<f32>(labels + (<usize>n << 2));
    let best: f64 = -Infinity;
    let argmax = 0;
    for (let k = 0; k < classes; k++) {
      const z = <f64>load<f32>(logits + row + (<usize>k << 2));
      if (z > best) {
        best = z;
        argmax = k;
      }
    }
    let total: f64 = 0;
    for (let k = 0; k < classes; k++) total += Math.exp(<f64>load<f32>(logits + row + (<usize>k << 2)) - best);
    lossSum += Math.log(total) - (<f64>load<f32>(logits + row + (<usize>label << 2)) - best);
    if (argmax == label) correct++;
    for (let k = 0; k < classes; k++) {
      const offset = row + (<usize>k << 2);
      const probability = Math.exp(<f64>load<f32>(logits + offset) - best) / total;
      store<f32>(probabilities + offset, <f32>probability);
      store<f32>(dLogits + offset, <f32>((probability - (k == label ? 1.0 : 0.0)) * gradientScale));
    }
  }
  store<f32>(result, <f32>lossSum);
  store<f32>(result, <f32>correct, 4);
}

/** Keras SGD: v = momentum*v - lr*g; p += nesterov ? momentum*v - lr*g : v. */
export function sgdUpdate(length: i32, params: usize, grads: usize, velocity: usize, learningRate: f32, momentum: f32, nesterov: bool): void {
  const lr = f32x4.splat(learningRate), mu = f32x4.splat(momentum);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const g = v128.load(grads + offset);
    const step = f32x4.mul(lr, g);
    const v = f32x4.sub(f32x4.mul(mu, v128.load(velocity + offset)), step);
    v128.store(velocity + offset, v);
    const update = nesterov ? f32x4.sub(f32x4.mul(mu, v), step) : v;
    v128.store(params + offset, f32x4.add(v128.load(params + offset), update));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const g = load<f32>(grads + offset);
    const v = momentum * load<f32>(velocity + offset) - learningRate * g;
    store<f32>(velocity + offset, v);
    store<f32>(params + offset, load<f32>(params + offset) + (nesterov ? momentum * v - learningRate * g : v));
  }
}

/** Adadelta (Zeiler 2012, Algorithm 1) with Keras's learning_rate factor. */
export function adadeltaUpdate(
  length: i32, params: usize, grads: usize, accumulatedGrad: usize, accumulatedDelta: usize,
  learningRateF64: f64, rhoF64: f64, epsilonF64: f64,
): void {
  // NOTE: complements like 1 - rho are taken in float64: float32(0.999) is off by 1.3e-8,
  // which is a 1.3e-5 relative error in 1 - 0.999.
  const learningRate = <f32>learningRateF64, rho = <f32>rhoF64, epsilon = <f32>epsilonF64, complement = <f32>(1 - rhoF64);
  const lr = f32x4.splat(learningRate), r = f32x4.splat(rho), keep = f32x4.splat(complement), eps = f32x4.splat(epsilon);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const g = v128.load(grads + offset);
    const accG = f32x4.add(f32x4.mul(r, v128.load(accumulatedGrad + offset)), f32x4.mul(keep, f32x4.mul(g, g)));
    v128.store(accumulatedGrad + offset, accG);
    const accD = v128.load(accumulatedDelta + offset);
    const delta = f32x4.mul(f32x4.div(f32x4.sqrt(f32x4.add(accD, eps)), f32x4.sqrt(f32x4.add(accG, eps))), g);
    v128.store(accumulatedDelta + offset, f32x4.add(f32x4.mul(r, accD), f32x4.mul(keep, f32x4.mul(delta, delta))));
    v128.store(params + offset, f32x4.sub(v128.load(params + offset), f32x4.mul(lr, delta)));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const g = load<f32>(grads + offset);
    const accG = rho * load<f32>(accumulatedGrad + offset) + complement * g * g;
    store<f32>(accumulatedGrad + offset, accG);
    const accD = load<f32>(accumulatedDelta + offset);
    const delta = (Mathf.sqrt(accD + epsilon) / Mathf.sqrt(accG + epsilon)) * g;
    store<f32>(accumulatedDelta + offset, rho * accD + complement * delta * delta);
    store<f32>(params + offset, load<f32>(params + offset) - learningRate * delta);
  }
}

/** Adam (Kingma & Ba 2015, Algorithm 1); the bias corrections are computed once in float64. */
export function adamUpdate(
  length: i32, params: usize, grads: usize, m: usize, v: usize,
  learningRate: f64, beta1F64: f64, beta2F64: f64, epsilonF64: f64, step: f64,
): void {
  // Scalars in float64 (see adadeltaUpdate), the per-element work in float32.
  const stepSize = <f32>(learningRate / (1 - Math.pow(beta1F64, step)));
  const inverseCorrection2 = <f32>(1 / (1 - Math.pow(beta2F64, step)));
  const beta1 = <f32>beta1F64, beta2 = <f32>beta2F64, complement1 = <f32>(1 - beta1F64), complement2 = <f32>(1 - beta2F64), epsilon = <f32>epsilonF64;
  const b1 = f32x4.splat(beta1), b1c = f32x4.splat(complement1), b2 = f32x4.splat(beta2), b2c = f32x4.splat(complement2);
  const size = f32x4.splat(stepSize), invC2 = f32x4.splat(inverseCorrection2), eps = f32x4.splat(epsilon);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const g = v128.load(grads + offset);
    const mi = f32x4.add(f32x4.mul(b1, v128.load(m + offset)), f32x4.mul(b1c, g));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(v + offset)), f32x4.mul(b2c, f32x4.mul(g, g)));
    v128.store(m + offset, mi);
    v128.store(v + offset, vi);
    const denominator = f32x4.add(f32x4.sqrt(f32x4.mul(vi, invC2)), eps);
    v128.store(params + offset, f32x4.sub(v128.load(params + offset), f32x4.div(f32x4.mul(size, mi), denominator)));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const g = load<f32>(grads + offset);
    const mi = beta1 * load<f32>(m + offset) + complement1 * g;
    const vi = beta2 * load<f32>(v + offset) + complement2 * g * g;
    store<f32>(m + offset, mi);
    store<f32>(v + offset, vi);
    store<f32>(params + offset, load<f32>(params + offset) - (stepSize * mi) / (Mathf.sqrt(vi * inverseCorrection2) + epsilon));
  }
}

export { fill };
