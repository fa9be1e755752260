/**
 * The loops under the reference kernels: im2col and its adjoint, and the two shapes of
 * matrix product they need (a linear combination of rows, and one row dotted with many).
 * Plain TypeScript over any float array; see reference.ts for what they compute.
 */
import type { Conv2DGeometry, FloatArray } from './kernels.js';

/** columns[k, p] with k = (c*kernelHeight + i)*kernelWidth + j and p = y*outWidth + x; zero where the window leaves the input. */
export function im2col(g: Conv2DGeometry, input: FloatArray, inputOffset: number, columns: FloatArray): void {
  const positions = g.outHeight * g.outWidth;
  let row = 0;
  for (let c = 0; c < g.inChannels; c++) {
    const channelOffset = inputOffset + c * g.inHeight * g.inWidth;
    for (let i = 0; i < g.kernelHeight; i++) {
      for (let j = 0; j < g.kernelWidth; j++, row++) {
        const rowOffset = row * positions;
        for (let y = 0; y < g.outHeight; y++) {
          const inY = y * g.strideY + i - g.padTop;
          const outOffset = rowOffset + y * g.outWidth;
          if (inY < 0 || inY >= g.inHeight) {
            columns.fill(0, outOffset, outOffset + g.outWidth);
            continue;
          }
          const inRowOffset = channelOffset + inY * g.inWidth;
          for (let x = 0; x < g.outWidth; x++) {
            const inX = x * g.strideX + j - g.padLeft;
            columns[outOffset + x] = inX >= 0 && inX < g.inWidth ? input[inRowOffset + inX]! : 0;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: dInput[c, inY, inX] += columns[k, p] for every (k, p) that read it. dInput must be zeroed first. */
export function col2imAdd(g: Conv2DGeometry, columns: FloatArray, dInput: FloatArray, dInputOffset: number): void {
  const positions = g.outHeight * g.outWidth;
  let row = 0;
  for (let c = 0; c < g.inChannels; c++) {
    const channelOffset = dInputOffset + c * g.inHeight * g.inWidth;
    for (let i = 0; i < g.kernelHeight; i++) {
      for (let j = 0; j < g.kernelWidth; j++, row++) {
        const rowOffset = row * positions;
        for (let y = 0; y < g.outHeight; y++) {
          const inY = y * g.strideY + i - g.padTop;
          if (inY < 0 || inY >= g.inHeight) continue;
          const inRowOffset = channelOffset + inY * g.inWidth;
          for (let x = 0; x < g.outWidth; x++) {
            const inX = x * g.strideX + j - g.padLeft;
            if (inX >= 0 && inX < g.inWidth) dInput[inRowOffset + inX] = dInput[inRowOffset + inX]! + columns[rowOffset + y * g.outWidth + x]!;
          }
        }
      }
    }
  }
}

/**
 * target[targetOffset + p] += sum_r coefficients[coefficientOffset + r*coefficientStride] * rows[rowOffset + r*rowStride + p]
 * for p < length, r < count: a linear combination of `count` rows added to one row.
 * NOTE: four rows per pass, so each target element is loaded and stored once per four rows;
 * V8 keeps the partial sums in registers instead of reloading the target for every row.
 */
export function addLinearCombination(
  target: FloatArray, targetOffset: number, length: number,
  coefficients: FloatArray, coefficientOffset: number, coefficientStride: number,
  rows: FloatArray, rowOffset: number, rowStride: number, count: number,
): void {
  let r = 0;
  for (; r + 4 <= count; r += 4) {
    const c = coefficientOffset + r * coefficientStride;
    const w0 = coefficients[c]!;
    const w1 = coefficients[c + coefficientStride]!;
    const w2 = coefficients[c + 2 * coefficientStride]!;
    const w3 = coefficients[c + 3 * coefficientStride]!;
    const row0 = rowOffset + r * rowStride;
    const row1 = row0 + rowStride;
    const row2 = row1 + rowStride;
    const row3 = row2 + rowStride;
    for (let p = 0; p < length; p++) {
      target[targetOffset + p] = target[targetOffset + p]! + w0 * rows[row0 + p]! + w1 * rows[row1 + p]! + w2 * rows[row2 + p]! + w3 * rows[row3 + p]!;
    }
  }
  for (; r < count; r++) {
    const w = coefficients[coefficientOffset + r * coefficientStride]!;
    const row = rowOffset + r * rowStride;
    for (let p = 0; p < length; p++) target[targetOffset + p] = target[targetOffset + p]! + w * rows[row + p]!;
  }
}

/**
 * out[outOffset + r] += sum_p a[aOffset + p] * rows[rowOffset + r*rowStride + p] for r < count, p < length:
 * one row against `count` rows, each dot product summed in a float64 local and added once.
 * Four rows per pass share each load of `a`.
 */
export function addDotProducts(
  out: FloatArray, outOffset: number,
  a: FloatArray, aOffset: number,
  rows: FloatArray, rowOffset: number, rowStride: number, count: number, length: number,
): void {
  let r = 0;
  for (; r + 4 <= count; r += 4) {
    const row0 = rowOffset + r * rowStride;
    const row1 = row0 + rowStride;
    const row2 = row1 + rowStride;
    const row3 = row2 + rowStride;
    let sum0 = 0;
    let sum1 = 0;
    let sum2 = 0;
    let sum3 = 0;
    for (let p = 0; p < length; p++) {
      const x = a[aOffset + p]!;
      sum0 += x * rows[row0 + p]!;
      sum1 += x * rows[row1 + p]!;
      sum2 += x * rows[row2 + p]!;
      sum3 += x * rows[row3 + p]!;
    }
    out[outOffset + r] = out[outOffset + r]! + sum0;
    out[outOffset + r + 1] = out[outOffset + r + 1]! + sum1;
    out[outOffset + r + 2] = out[outOffset + r + 2]! + sum2;
    out[outOffset + r + 3] = out[outOffset + r + 3]! + sum3;
  }
  for (; r < count; r++) {
    const row = rowOffset + r * rowStride;
    let sum = 0;
    for (let p = 0; p < length; p++) sum += a[aOffset + p]! * rows[row + p]!;
    out[outOffset + r] = out[outOffset + r]! + sum;
  }
}
