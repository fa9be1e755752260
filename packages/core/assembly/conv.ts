/**
 * Convolution as im2col + GEMM, one image at a time inside WebAssembly (the loop over the
 * batch never crosses into JavaScript). Layouts match the TypeScript reference:
 *   columns [inChannels*kernelHeight*kernelWidth, outHeight*outWidth] of one image,
 *   row k = (c*kernelHeight + i)*kernelWidth + j, column p = y*outWidth + x.
 * All addresses are byte offsets into the one linear memory.
 */
import { gemm } from './gemm';

/** First output column x whose input column x*stride - shift is >= 0 (shift = padLeft - j). */
// @ts-ignore: decorator
@inline function validStart(outWidth: i32, stride: i32, shift: i32): i32 {
  return shift <= 0 ? 0 : min(outWidth, (shift + stride - 1) / stride);
}

/** One past the last output column whose input column x*stride - shift is < inWidth (at least `start`). */
// @ts-ignore: decorator
@inline function validEnd(outWidth: i32, stride: i32, inWidth: i32, shift: i32, start: i32): i32 {
  const last = inWidth - 1 + shift; // NOTE: negative when the window column lies beyond the image; '/' truncates
  if (last < 0) return start;
  return max(start, min(outWidth, last / stride + 1));
}

/** columns[k, p] = input[c, y*sy+i-padTop, x*sx+j-padLeft], zero outside the image. */
function im2col(
  input: usize, inChannels: i32, inHeight: i32, inWidth: i32,
  outHeight: i32, outWidth: i32, kernelHeight: i32, kernelWidth: i32,
  strideY: i32, strideX: i32, padTop: i32, padLeft: i32, columns: usize,
): void {
  let dst = columns;
  for (let c = 0; c < inChannels; c++) {
    const channel = input + (<usize>(c * inHeight * inWidth) << 2);
    for (let i = 0; i < kernelHeight; i++) {
      for (let j = 0; j < kernelWidth; j++) {
        // Output columns x whose input column x*sx+j-padLeft lies inside [0, inWidth).
        const xStart = validStart(outWidth, strideX, padLeft - j);
        const xEnd = validEnd(outWidth, strideX, inWidth, padLeft - j, xStart);
        for (let y = 0; y < outHeight; y++) {
          const inY = y * strideY + i - padTop;
          if (inY < 0 || inY >= inHeight) {
            memory.fill(dst, 0, <usize>outWidth << 2);
          } else {
            if (xStart > 0) memory.fill(dst, 0, <usize>xStart << 2);
            const src = channel + (<usize>(inY * inWidth + xStart * strideX + j - padLeft) << 2);
            if (xEnd <= xStart) {
              // the window column never touches the image
            } else if (strideX == 1) {
              copyFloats(dst + (<usize>xStart << 2), src, xEnd - xStart);
            } else {
              for (let x = xStart; x < xEnd; x++) {
                store<f32>(dst + (<usize>x << 2), load<f32>(src + (<usize>((x - xStart) * strideX) << 2)));
              }
            }
            if (xEnd < outWidth) memory.fill(dst + (<usize>xEnd << 2), 0, <usize>(outWidth - xEnd) << 2);
          }
          dst += <usize>outWidth << 2;
        }
      }
    }
  }
}

/**
 * Copies `count` floats with vector moves. NOTE: memory.copy is a call out of the
 * compiled code in V8; im2col copies ~7,000 rows of 24 floats per image, where that call
 * cost more than the copy.
 */
// @ts-ignore: decorator
@inline function copyFloats(dst: usize, src: usize, count: i32): void {
  let x = 0;
  for (; x + 4 <= count; x += 4) v128.store(dst + (<usize>x << 2), v128.load(src + (<usize>x << 2)));
  for (; x < count; x++) store<f32>(dst + (<usize>x << 2), load<f32>(src + (<usize>x << 2)));
}

/**
 * col2im for stride 1 as a gather: each input element sums its kernelHeight*kernelWidth
 * column entries in a register and is written once (no zero fill, no read-modify-write
 * of overlapping vectors, which stalled store-to-load forwarding in the scatter form).
 *   dInput[c, inY, inX] = sum_{i,j} columns[(c,i,j), (inY+padTop-i)*outWidth + (inX+padLeft-j)]  (in-range terms only)
 */
function col2imStride1(
  columns: usize, inChannels: i32, inHeight: i32, inWidth: i32,
  outHeight: i32, outWidth: i32, kernelHeight: i32, kernelWidth: i32,
  padTop: i32, padLeft: i32, dInput: usize,
): void {
  const positions = outHeight * outWidth;
  const rowBytes = <usize>(positions * kernelWidth) << 2; // from kernel row i to i+1
  let dst = dInput;
  for (let c = 0; c < inChannels; c++) {
    const channelColumns = columns + (<usize>(c * kernelHeight * kernelWidth * positions) << 2);
    for (let inY = 0; inY < inHeight; inY++) {
      // Kernel rows i whose output row y = inY + padTop - i lies in [0, outHeight).
      const iFirst = max(0, inY + padTop - outHeight + 1);
      const iEnd = min(kernelHeight, inY + padTop + 1);
      let inX = 0;
      for (; inX + 4 <= inWidth; inX += 4) {
        const x0 = inX + padLeft - (kernelWidth - 1); // smallest output column read
        if (x0 >= 0 && inX + padLeft + 3 < outWidth) {
          let sum = f32x4.splat(0);
          for (let i = iFirst; i < iEnd; i++) {
            const y = inY + padTop - i;
            let at = channelColumns + <usize>i * rowBytes + (<usize>(y * outWidth + inX + padLeft) << 2);
            for (let j = 0; j < kernelWidth; j++) {
              sum = f32x4.add(sum, v128.load(at));
              at += (<usize>positions << 2) - 4; // next kernel column: next columns row, one output column left
            }
          }
          v128.store(dst + (<usize>inX << 2), sum);
        } else {
          // Border chunk: lanes whose output column falls outside [0, outWidth) are masked off.
          // NOTE: the loads may touch up to kernelWidth-1 floats before or 3 after the columns
          // row; they stay inside the memory (the allocator keeps a guard at both ends).
          let sum = f32x4.splat(0);
          const lanes = i32x4(0, 1, 2, 3);
          for (let j = 0; j < kernelWidth; j++) {
            const x = i32x4.add(i32x4.splat(inX + padLeft - j), lanes);
            const valid = v128.and(i32x4.ge_s(x, i32x4.splat(0)), i32x4.lt_s(x, i32x4.splat(outWidth)));
            if (!v128.any_true(valid)) continue;
            for (let i = iFirst; i < iEnd; i++) {
              const y = inY + padTop - i;
              const at = channelColumns + <usize>i * rowBytes + <usize>(j * positions + y * outWidth + inX + padLeft - j) * 4;
              sum = f32x4.add(sum, v128.and(v128.load(at), valid));
            }
          }
          v128.store(dst + (<usize>inX << 2), sum);
        }
      }
      for (; inX < inWidth; inX++) store<f32>(dst + (<usize>inX << 2), gatherOne(channelColumns, positions, outWidth, kernelWidth, rowBytes, iFirst, iEnd, inY + padTop, inX + padLeft));
      dst += <usize>inWidth << 2;
    }
  }
}

/** One element of col2imStride1 with bounds checks (image borders). */
function gatherOne(channelColumns: usize, positions: i32, outWidth: i32, kernelWidth: i32, rowBytes: usize, iFirst: i32, iEnd: i32, shiftedY: i32, shiftedX: i32): f32 {
  let sum: f32 = 0;
  for (let i = iFirst; i < iEnd; i++) {
    const y = shiftedY - i;
    for (let j = 0; j < kernelWidth; j++) {
      const x = shiftedX - j;
      if (x >= 0 && x < outWidth) sum += load<f32>(channelColumns + <usize>i * rowBytes + (<usize>(j * positions + y * outWidth + x) << 2));
    }
  }
  return sum;
}

/** The adjoint of im2col: dInput[c, inY, inX] += columns[k, p]; dInput is zeroed here first. */
function col2im(
  columns: usize, inChannels: i32, inHeight: i32, inWidth: i32,
  outHeight: i32, outWidth: i32, kernelHeight: i32, kernelWidth: i32,
  strideY: i32, strideX: i32, padTop: i32, padLeft: i32, dInput: usize,
): void {
  memory.fill(dInput, 0, <usize>(inChannels * inHeight * inWidth) << 2);
  let src = columns;
  for (let c = 0; c < inChannels; c++) {
    const channel = dInput + (<usize>(c * inHeight * inWidth) << 2);
    for (let i = 0; i < kernelHeight; i++) {
      for (let j = 0; j < kernelWidth; j++) {
        const xStart = validStart(outWidth, strideX, padLeft - j);
        const xEnd = validEnd(outWidth, strideX, inWidth, padLeft - j, xStart);
        for (let y = 0; y < outHeight; y++) {
          const inY = y * strideY + i - padTop;
          if (inY >= 0 && inY < inHeight && xEnd > xStart) {
            const dst = channel + (<usize>(inY * inWidth + xStart * strideX + j - padLeft) << 2);
            const from = src + (<usize>xStart << 2);
            const count = xEnd - xStart;
            if (strideX == 1) {
              let x = 0;
              for (; x + 4 <= count; x += 4) {
                const offset = <usize>x << 2;
                v128.store(dst + offset, f32x4.add(v128.load(dst + offset), v128.load(from + offset)));
              }
              for (; x < count; x++) {
                const offset = <usize>x << 2;
                store<f32>(dst + offset, load<f32>(dst + offset) + load<f32>(from + offset));
              }
            } else {
              for (let x = 0; x < count; x++) {
                const at = dst + (<usize>(x * strideX) << 2);
                store<f32>(at, load<f32>(at) + load<f32>(from + (<usize>x << 2)));
              }
            }
          }
          src += <usize>outWidth << 2;
        }
      }
    }
  }
}

/** output[n, o, :] = bias[o] + weight[o, :] x columns(input[n]). */
export function conv2dForward(
  batch: i32, inChannels: i32, inHeight: i32, inWidth: i32, outChannels: i32, outHeight: i32, outWidth: i32,
  kernelHeight: i32, kernelWidth: i32, strideY: i32, strideX: i32, padTop: i32, padLeft: i32,
  input: usize, weight: usize, bias: usize, output: usize, columns: usize,
): void {
  const positions = outHeight * outWidth;
  const depth = inChannels * kernelHeight * kernelWidth;
  for (let n = 0; n < batch; n++) {
    const image = input + (<usize>(n * inChannels * inHeight * inWidth) << 2);
    const out = output + (<usize>(n * outChannels * positions) << 2);
    im2col(image, inChannels, inHeight, inWidth, outHeight, outWidth, kernelHeight, kernelWidth, strideY, strideX, padTop, padLeft, columns);
    for (let o = 0; o < outChannels; o++) fill(out + (<usize>(o * positions) << 2), positions, load<f32>(bias + (<usize>o << 2)));
    gemm(outChannels, positions, depth, weight, depth, 1, columns, positions, 1, out, positions, 1, true);
  }
}

/** dWeight[o, k] += sum_p dOutput[n, o, p] * columns[k, p]; dBias[o] += sum_p dOutput[n, o, p]. */
export function conv2dBackwardFilter(
  batch: i32, inChannels: i32, inHeight: i32, inWidth: i32, outChannels: i32, outHeight: i32, outWidth: i32,
  kernelHeight: i32, kernelWidth: i32, strideY: i32, strideX: i32, padTop: i32, padLeft: i32,
  input: usize, dOutput: usize, dWeight: usize, dBias: usize, columns: usize,
): void {
  const positions = outHeight * outWidth;
  const depth = inChannels * kernelHeight * kernelWidth;
  for (let n = 0; n < batch; n++) {
    const image = input + (<usize>(n * inChannels * inHeight * inWidth) << 2);
    const dOut = dOutput + (<usize>(n * outChannels * positions) << 2);
    im2col(image, inChannels, inHeight, inWidth, outHeight, outWidth, kernelHeight, kernelWidth, strideY, strideX, padTop, padLeft, columns);
    // B[p][k] = columns[k, p]: the transposed operand, packed by 4x4 transposes.
    gemm(outChannels, depth, positions, dOut, positions, 1, columns, 1, positions, dWeight, depth, 1, true);
    for (let o = 0; o < outChannels; o++) {
      const at = dBias + (<usize>o << 2);
      store<f32>(at, load<f32>(at) + sum(dOut + (<usize>(o * positions) << 2), positions));
    }
  }
}

/** dInput[n] = col2im(weight^T x dOutput[n]). */
export function conv2dBackwardInput(
  batch: i32, inChannels: i32, inHeight: i32, inWidth: i32, outChannels: i32, outHeight: i32, outWidth: i32,
  kernelHeight: i32, kernelWidth: i32, strideY: i32, strideX: i32, padTop: i32, padLeft: i32,
  weight: usize, dOutput: usize, dInput: usize, columns: usize,
): void {
  const positions = outHeight * outWidth;
  const depth = inChannels * kernelHeight * kernelWidth;
  for (let n = 0; n < batch; n++) {
    const dOut = dOutput + (<usize>(n * outChannels * positions) << 2);
    gemm(depth, positions, outChannels, weight, 1, depth, dOut, positions, 1, columns, positions, 1, false);
    const dImage = dInput + (<usize>(n * inChannels * inHeight * inWidth) << 2);
    if (strideY == 1 && strideX == 1) {
      col2imStride1(columns, inChannels, inHeight, inWidth, outHeight, outWidth, kernelHeight, kernelWidth, padTop, padLeft, dImage);
      continue;
    }
    col2im(columns, inChannels, inHeight, inWidth, outHeight, outWidth, kernelHeight, kernelWidth, strideY, strideX, padTop, padLeft, dImage);
  }
}

export function fill(at: usize, length: i32, value: f32): void {
  const v = f32x4.splat(value);
  let i = 0;
  for (; i + 4 <= length; i += 4) v128.store(at + (<usize>i << 2), v);
  for (; i < length; i++) store<f32>(at + (<usize>i << 2), value);
}

/** Sum of `length` floats, four lanes at a time. */
export function sum(at: usize, length: i32): f32 {
  let lanes = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= length; i += 4) lanes = f32x4.add(lanes, v128.load(at + (<usize>i << 2)));
  let total = f32x4.extract_lane(lanes, 0) + f32x4.extract_lane(lanes, 1) + f32x4.extract_lane(lanes, 2) + f32x4.extract_lane(lanes, 3);
  for (; i < length; i++) total += load<f32>(at + (<usize>i << 2));
  return total;
}
