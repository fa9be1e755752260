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
  if (poolHeight == 2 && poolWidth == 2 && strideY == 2 && strideX == 2) {
    maxPool2x2Forward(planes, inHeight, inWidth, outHeight, outWidth, input, output);
    return;
  }
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
  if (poolHeight == 2 && poolWidth == 2 && strideY == 2 && strideX == 2) {
    maxPool2x2Backward(planes, inHeight, inWidth, outHeight, outWidth, input, output, dOutput, dInput);
    return;
  }
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

/**
 * The common 2x2 stride-2 pooling, four outputs per step: two rows of 8 inputs give the
 * four windows' top-left, top-right, bottom-left and bottom-right lanes by even/odd shuffles.
 */
function maxPool2x2Forward(planes: i32, inHeight: i32, inWidth: i32, outHeight: i32, outWidth: i32, input: usize, output: usize): void {
  for (let plane = 0; plane < planes; plane++) {
    const inPlane = input + (<usize>(plane * inHeight * inWidth) << 2);
    const outPlane = output + (<usize>(plane * outHeight * outWidth) << 2);
    for (let y = 0; y < outHeight; y++) {
      const row0 = inPlane + (<usize>(2 * y * inWidth) << 2);
      const row1 = row0 + (<usize>inWidth << 2);
      const out = outPlane + (<usize>(y * outWidth) << 2);
      let x = 0;
      for (; x + 4 <= outWidth; x += 4) {
        const offset = <usize>x << 3;
        const top = f32x4.max(
          v128.shuffle<f32>(v128.load(row0 + offset), v128.load(row0 + offset, 16), 0, 2, 4, 6),
          v128.shuffle<f32>(v128.load(row0 + offset), v128.load(row0 + offset, 16), 1, 3, 5, 7),
        );
        const bottom = f32x4.max(
          v128.shuffle<f32>(v128.load(row1 + offset), v128.load(row1 + offset, 16), 0, 2, 4, 6),
          v128.shuffle<f32>(v128.load(row1 + offset), v128.load(row1 + offset, 16), 1, 3, 5, 7),
        );
        v128.store(out + (<usize>x << 2), f32x4.max(top, bottom));
      }
      for (; x < outWidth; x++) {
        const offset = <usize>x << 3;
        const best = max(max(load<f32>(row0 + offset), load<f32>(row0 + offset, 4)), max(load<f32>(row1 + offset), load<f32>(row1 + offset, 4)));
        store<f32>(out + (<usize>x << 2), best);
      }
    }
  }
}

/** Backward of maxPool2x2Forward: each window's gradient goes to its first lane equal to the max. dInput is zeroed. */
function maxPool2x2Backward(
  planes: i32, inHeight: i32, inWidth: i32, outHeight: i32, outWidth: i32, input: usize, output: usize, dOutput: usize, dInput: usize,
): void {
  for (let plane = 0; plane < planes; plane++) {
    const inOffset = <usize>(plane * inHeight * inWidth) << 2;
    const outOffset = <usize>(plane * outHeight * outWidth) << 2;
    for (let y = 0; y < outHeight; y++) {
      const rowOffset0 = inOffset + (<usize>(2 * y * inWidth) << 2);
      const rowOffset1 = rowOffset0 + (<usize>inWidth << 2);
      const outRow = outOffset + (<usize>(y * outWidth) << 2);
      let x = 0;
      for (; x + 4 <= outWidth; x += 4) {
        const offset = <usize>x << 3;
        const r0a = v128.load(input + rowOffset0 + offset), r0b = v128.load(input + rowOffset0 + offset, 16);
        const r1a = v128.load(input + rowOffset1 + offset), r1b = v128.load(input + rowOffset1 + offset, 16);
        const best = v128.load(output + outRow + (<usize>x << 2));
        const gradient = v128.load(dOutput + outRow + (<usize>x << 2));
        // Row-major priority: top-left, top-right, bottom-left, bottom-right.
        const take00 = f32x4.eq(v128.shuffle<f32>(r0a, r0b, 0, 2, 4, 6), best);
        let taken = take00;
        const take01 = v128.andnot(f32x4.eq(v128.shuffle<f32>(r0a, r0b, 1, 3, 5, 7), best), taken);
        taken = v128.or(taken, take01);
        const take10 = v128.andnot(f32x4.eq(v128.shuffle<f32>(r1a, r1b, 0, 2, 4, 6), best), taken);
        taken = v128.or(taken, take10);
        const take11 = v128.andnot(f32x4.eq(v128.shuffle<f32>(r1a, r1b, 1, 3, 5, 7), best), taken);
        const d00 = v128.and(gradient, take00), d01 = v128.and(gradient, take01);
        const d10 = v128.and(gradient, take10), d11 = v128.and(gradient, take11);
        v128.store(dInput + rowOffset0 + offset, v128.shuffle<f32>(d00, d01, 0, 4, 1, 5));
        v128.store(dInput + rowOffset0 + offset, v128.shuffle<f32>(d00, d01, 2, 6, 3, 7), 16);
        v128.store(dInput + rowOffset1 + offset, v128.shuffle<f32>(d10, d11, 0, 4, 1, 5));
        v128.store(dInput + rowOffset1 + offset, v128.shuffle<f32>(d10, d11, 2, 6, 3, 7), 16);
      }
      for (; x < outWidth; x++) {
        const offset = <usize>x << 3;
        const best = load<f32>(output + outRow + (<usize>x << 2));
        const gradient = load<f32>(dOutput + outRow + (<usize>x << 2));
        if (load<f32>(input + rowOffset0 + offset) == best) store<f32>(dInput + rowOffset0 + offset, gradient);
        else if (load<f32>(input + rowOffset0 + offset, 4) == best) store<f32>(dInput + rowOffset0 + offset, gradient, 4);
        else if (load<f32>(input + rowOffset1 + offset) == best) store<f32>(dInput + rowOffset1 + offset, gradient);
        else if (load<f32>(input + rowOffset1 + offset, 4) == best) store<f32>(dInput + rowOffset1 + offset, gradient, 4);
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

export { fill };
