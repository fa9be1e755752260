/**
 * Average pooling for the WebAssembly backend. Same semantics as the TypeScript reference
 * (kernels/reference.ts): each window's mean over the cells inside the input, so a window
 * reaching into 'same' padding divides by the cells it covers (Keras, ONNX
 * count_include_pad 0). Addresses are bytes; planes are batch*channels images of one channel.
 */

export function avgPool2dForward(
  batch: i32, channels: i32, inHeight: i32, inWidth: i32, outHeight: i32, outWidth: i32,
  poolHeight: i32, poolWidth: i32, strideY: i32, strideX: i32, padTop: i32, padLeft: i32,
  input: usize, output: usize,
): void {
  const planes = batch * channels;
  if (poolHeight == 2 && poolWidth == 2 && strideY == 2 && strideX == 2 && padTop == 0 && padLeft == 0 && outHeight * 2 <= inHeight && outWidth * 2 <= inWidth) {
    avgPool2x2Forward(planes, inHeight, inWidth, outHeight, outWidth, input, output);
    return;
  }
  let out = output;
  for (let plane = 0; plane < planes; plane++) {
    const inPlane = input + (<usize>(plane * inHeight * inWidth) << 2);
    for (let y = 0; y < outHeight; y++) {
      const top = max(y * strideY - padTop, 0);
      const bottom = min(y * strideY - padTop + poolHeight, inHeight);
      for (let x = 0; x < outWidth; x++) {
        const left = max(x * strideX - padLeft, 0);
        const right = min(x * strideX - padLeft + poolWidth, inWidth);
        let sum: f32 = 0;
        for (let i = top; i < bottom; i++) {
          const row = inPlane + (<usize>(i * inWidth) << 2);
          for (let j = left; j < right; j++) sum += load<f32>(row + (<usize>j << 2));
        }
        store<f32>(out, sum / <f32>((bottom - top) * (right - left)));
        out += 4;
      }
    }
  }
}

/** dInput = each window's dOutput / count spread over the cells it covers; overlaps add. dInput is overwritten. */
export function avgPool2dBackward(
  batch: i32, channels: i32, inHeight: i32, inWidth: i32, outHeight: i32, outWidth: i32,
  poolHeight: i32, poolWidth: i32, strideY: i32, strideX: i32, padTop: i32, padLeft: i32,
  dOutput: usize, dInput: usize,
): void {
  const planes = batch * channels;
  memory.fill(dInput, 0, <usize>(planes * inHeight * inWidth) << 2);
  if (poolHeight == 2 && poolWidth == 2 && strideY == 2 && strideX == 2 && padTop == 0 && padLeft == 0 && outHeight * 2 <= inHeight && outWidth * 2 <= inWidth) {
    avgPool2x2Backward(planes, inHeight, inWidth, outHeight, outWidth, dOutput, dInput);
    return;
  }
  let index: usize = 0;
  for (let plane = 0; plane < planes; plane++) {
    const dPlane = dInput + (<usize>(plane * inHeight * inWidth) << 2);
    for (let y = 0; y < outHeight; y++) {
      const top = max(y * strideY - padTop, 0);
      const bottom = min(y * strideY - padTop + poolHeight, inHeight);
      for (let x = 0; x < outWidth; x++) {
        const left = max(x * strideX - padLeft, 0);
        const right = min(x * strideX - padLeft + poolWidth, inWidth);
        const share = load<f32>(dOutput + index) / <f32>((bottom - top) * (right - left));
        index += 4;
        for (let i = top; i < bottom; i++) {
          const row = dPlane + (<usize>(i * inWidth) << 2);
          for (let j = left; j < right; j++) {
            const at = row + (<usize>j << 2);
            store<f32>(at, load<f32>(at) + share);
          }
        }
      }
    }
  }
}

/**
 * The common 2x2 stride-2 'valid' pooling, four outputs per step: two rows of 8 inputs
 * give each window's left and right lanes by even/odd shuffles (as maxpool's fast path).
 */
function avgPool2x2Forward(planes: i32, inHeight: i32, inWidth: i32, outHeight: i32, outWidth: i32, input: usize, output: usize): void {
  const quarter = f32x4.splat(0.25);
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
        const a0 = v128.load(row0 + offset), b0 = v128.load(row0 + offset, 16);
        const a1 = v128.load(row1 + offset), b1 = v128.load(row1 + offset, 16);
        // Summed in the reference's order: (top-left + top-right) + (bottom-left + bottom-right).
        const top = f32x4.add(v128.shuffle<f32>(a0, b0, 0, 2, 4, 6), v128.shuffle<f32>(a0, b0, 1, 3, 5, 7));
        const bottom = f32x4.add(v128.shuffle<f32>(a1, b1, 0, 2, 4, 6), v128.shuffle<f32>(a1, b1, 1, 3, 5, 7));
        v128.store(out + (<usize>x << 2), f32x4.mul(f32x4.add(top, bottom), quarter));
      }
      for (; x < outWidth; x++) {
        const offset = <usize>x << 3;
        const sum = (load<f32>(row0 + offset) + load<f32>(row0 + offset, 4)) + (load<f32>(row1 + offset) + load<f32>(row1 + offset, 4));
        store<f32>(out + (<usize>x << 2), sum * 0.25);
      }
    }
  }
}

/** Backward of avgPool2x2Forward: each window's dOutput / 4 to its four cells (windows do not overlap). dInput is zeroed. */
function avgPool2x2Backward(planes: i32, inHeight: i32, inWidth: i32, outHeight: i32, outWidth: i32, dOutput: usize, dInput: usize): void {
  const quarter = f32x4.splat(0.25);
  for (let plane = 0; plane < planes; plane++) {
    const dPlane = dInput + (<usize>(plane * inHeight * inWidth) << 2);
    const outPlane = dOutput + (<usize>(plane * outHeight * outWidth) << 2);
    for (let y = 0; y < outHeight; y++) {
      const row0 = dPlane + (<usize>(2 * y * inWidth) << 2);
      const row1 = row0 + (<usize>inWidth << 2);
      const out = outPlane + (<usize>(y * outWidth) << 2);
      let x = 0;
      for (; x + 4 <= outWidth; x += 4) {
        const offset = <usize>x << 3;
        const share = f32x4.mul(v128.load(out + (<usize>x << 2)), quarter);
        // Lanes [s0 s0 s1 s1] and [s2 s2 s3 s3]: each share to its window's two columns.
        const left = v128.shuffle<f32>(share, share, 0, 0, 1, 1);
        const right = v128.shuffle<f32>(share, share, 2, 2, 3, 3);
        v128.store(row0 + offset, left);
        v128.store(row0 + offset, right, 16);
        v128.store(row1 + offset, left);
        v128.store(row1 + offset, right, 16);
      }
      for (; x < outWidth; x++) {
        const offset = <usize>x << 3;
        const share = load<f32>(out + (<usize>x << 2)) * 0.25;
        store<f32>(row0 + offset, share);
        store<f32>(row0 + offset, share, 4);
        store<f32>(row1 + offset, share);
        store<f32>(row1 + offset, share, 4);
      }
    }
  }
}
