/**
 * Turns a user's picture of a digit into what an MNIST model reads: one channel,
 * height x width (28 x 28), light ink on a black background, values in [0, 1], the digit
 * framed as MNIST frames it (LeCun et al.: the ink's bounding box scaled to fit 20 x 20
 * keeping its aspect ratio, then placed so that its centre of mass is the image centre).
 *
 * Steps, each a function below:
 *   decode PNG (pngjs: any bit depth, grey/colour/palette, alpha) -> RGBA bytes
 *   -> grey, alpha composited on white                      [h*w] in 0..255
 *   -> ink: inverted when the border is lighter than the middle (dark digit on light paper),
 *      then the background level subtracted and stretched       [h*w] in 0..1
 *   -> MNIST framing and resampling (area average when shrinking, bilinear when enlarging).
 */
import { PNG } from 'pngjs';
import { CliError } from './errors.js';

export interface GreyImage {
  readonly width: number;
  readonly height: number;
  /** height*width values, row-major. */
  readonly pixels: Float32Array;
}

export interface PreparedImage {
  /** height*width ink values in [0, 1] (the model's input for one image). */
  readonly pixels: Float32Array;
  /** True when the picture was dark on light and has been inverted. */
  readonly inverted: boolean;
  readonly sourceWidth: number;
  readonly sourceHeight: number;
}

/** MNIST's framing: the digit fits a 20x20 box inside the 28x28 image. */
const MNIST_BOX_FRACTION = 20 / 28;
/** Every PNG file starts with these 8 bytes (PNG specification, section 5.2). */
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;
/** Ink below this fraction of the brightest ink does not count for the bounding box. */
const INK_THRESHOLD = 0.1;

/** Decodes PNG bytes into grey 0..255 with alpha composited on white (as the picture looks on paper). */
export function decodePngToGrey(bytes: Uint8Array, source: string): GreyImage {
  if (bytes.length < PNG_SIGNATURE.length || PNG_SIGNATURE.some((byte, i) => bytes[i] !== byte)) {
    const start = Array.from(bytes.subarray(0, 8), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    throw new CliError('BAD_IMAGE', `${source}: not a PNG file (it starts with ${start || 'nothing'})`);
  }
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new CliError('BAD_IMAGE', `${source}: cannot decode PNG (${(error as Error).message})`);
  }
  const { width, height, data } = png;
  if (width === 0 || height === 0) throw new CliError('BAD_IMAGE', `${source}: the PNG has no pixels`);
  const pixels = new Float32Array(width * height);
  for (let p = 0; p < pixels.length; p++) {
    const red = data[4 * p]!;
    const green = data[4 * p + 1]!;
    const blue = data[4 * p + 2]!;
    const alpha = data[4 * p + 3]! / 255;
    // ITU-R BT.601 luma, the weights PIL's convert('L') uses.
    const luma = 0.299 * red + 0.587 * green + 0.114 * blue;
    pixels[p] = luma * alpha + 255 * (1 - alpha);
  }
  return { width, height, pixels };
}

/** Grey 0..255 -> ink 0..1 (background 0), inverting dark-on-light pictures. */
export function greyToInk(image: GreyImage): { ink: Float32Array; inverted: boolean } {
  const { width, height, pixels } = image;
  // The background is what the border shows: its median resists a stroke that touches the edge.
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(pixels[x]!, pixels[(height - 1) * width + x]!);
  for (let y = 1; y < height - 1; y++) border.push(pixels[y * width]!, pixels[y * width + width - 1]!);
  border.sort((a, b) => a - b);
  const background = border[Math.floor(border.length / 2)]!;
  let mean = 0;
  for (const value of pixels) mean += value;
  mean /= pixels.length;
  // Ink darker than the paper (the picture is darker on average than its border) is drawn
  // dark on light; a uniform picture counts as paper when it is light.
  const inverted = background > mean || (background === mean && background > 127.5);
  const ink = new Float32Array(pixels.length);
  let brightest = 0;
  const backgroundInk = inverted ? 255 - background : background;
  for (let p = 0; p < pixels.length; p++) {
    const value = inverted ? 255 - pixels[p]! : pixels[p]!;
    ink[p] = Math.max(0, value - backgroundInk);
    brightest = Math.max(brightest, ink[p]!);
  }
  // Stretch so that the strongest stroke is 1, like MNIST's (nearly) saturated strokes.
  if (brightest > 0) for (let p = 0; p < ink.length; p++) ink[p] = ink[p]! / brightest;
  return { ink, inverted };
}

/**
 * For each output pixel along one axis, the source pixels and weights that make it:
 * area average when shrinking (each output pixel averages the source span it covers),
 * bilinear interpolation between pixel centres when enlarging.
 */
export function axisWeights(sourceSize: number, targetSize: number): Array<Array<[index: number, weight: number]>> {
  const scale = sourceSize / targetSize;
  const weights: Array<Array<[number, number]>> = [];
  for (let i = 0; i < targetSize; i++) {
    const taps: Array<[number, number]> = [];
    if (scale >= 1) {
      const start = i * scale;
      const end = (i + 1) * scale;
      for (let s = Math.floor(start); s < Math.min(Math.ceil(end), sourceSize); s++) {
        const overlap = Math.min(end, s + 1) - Math.max(start, s);
        if (overlap > 1e-9) taps.push([s, overlap / scale]);
      }
    } else {
      const centre = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), sourceSize - 1);
      const low = Math.floor(centre);
      const high = Math.min(low + 1, sourceSize - 1);
      const fraction = centre - low;
      taps.push([low, 1 - fraction]);
      if (high !== low) taps.push([high, fraction]);
    }
    weights.push(taps);
  }
  return weights;
}

/** Resamples [sourceHeight, sourceWidth] to [targetHeight, targetWidth], rows then columns (separable). */
export function resample(pixels: Float32Array, sourceWidth: number, sourceHeight: number, targetWidth: number, targetHeight: number): Float32Array {
  const columnWeights = axisWeights(sourceWidth, targetWidth);
  const rowWeights = axisWeights(sourceHeight, targetHeight);
  const widened = new Float32Array(sourceHeight * targetWidth);
  for (let y = 0; y < sourceHeight; y++) {
    for (let x = 0; x < targetWidth; x++) {
      let sum = 0;
      for (const [index, weight] of columnWeights[x]!) sum += weight * pixels[y * sourceWidth + index]!;
      widened[y * targetWidth + x] = sum;
    }
  }
  const output = new Float32Array(targetHeight * targetWidth);
  for (let y = 0; y < targetHeight; y++) {
    for (const [index, weight] of rowWeights[y]!) {
      for (let x = 0; x < targetWidth; x++) output[y * targetWidth + x] = output[y * targetWidth + x]! + weight * widened[index * targetWidth + x]!;
    }
  }
  return output;
}

/**
 * MNIST framing: crop to the ink's bounding box, pad it to a square (so the aspect ratio is
 * kept), scale to 20/28 of the target, and paste it so that its centre of mass lands on the
 * target's centre (clamped to stay inside). A blank picture is scaled whole.
 */
export function frameDigit(ink: Float32Array, width: number, height: number, targetWidth: number, targetHeight: number): Float32Array {
  let top = height;
  let bottom = -1;
  let left = width;
  let right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x]! < INK_THRESHOLD) continue;
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
      left = Math.min(left, x);
      right = Math.max(right, x);
    }
  }
  if (bottom < 0) return resample(ink, width, height, targetWidth, targetHeight);

  // Square crop around the bounding box, zero (background) where it leaves the picture.
  const side = Math.max(bottom - top + 1, right - left + 1);
  const squareTop = top - Math.floor((side - (bottom - top + 1)) / 2);
  const squareLeft = left - Math.floor((side - (right - left + 1)) / 2);
  const square = new Float32Array(side * side);
  for (let y = 0; y < side; y++) {
    const sourceY = squareTop + y;
    if (sourceY < 0 || sourceY >= height) continue;
    for (let x = 0; x < side; x++) {
      const sourceX = squareLeft + x;
      if (sourceX >= 0 && sourceX < width) square[y * side + x] = ink[sourceY * width + sourceX]!;
    }
  }
  const boxHeight = Math.max(1, Math.round(targetHeight * MNIST_BOX_FRACTION));
  const boxWidth = Math.max(1, Math.round(targetWidth * MNIST_BOX_FRACTION));
  const box = resample(square, side, side, boxWidth, boxHeight);

  // Centre of mass of the box, in pixel-index coordinates. NOTE: MNIST's digits have their
  // centre of mass at index (14.0, 14.0) on average (measured over its test set), not at
  // 13.5, the geometric centre: aim where the model's training data is.
  let mass = 0;
  let massY = 0;
  let massX = 0;
  for (let y = 0; y < boxHeight; y++) {
    for (let x = 0; x < boxWidth; x++) {
      const value = box[y * boxWidth + x]!;
      mass += value;
      massY += value * y;
      massX += value * x;
    }
  }
  const offsetY = clamp(Math.round(targetHeight / 2 - massY / mass), 0, targetHeight - boxHeight);
  const offsetX = clamp(Math.round(targetWidth / 2 - massX / mass), 0, targetWidth - boxWidth);
  const output = new Float32Array(targetHeight * targetWidth);
  for (let y = 0; y < boxHeight; y++) {
    for (let x = 0; x < boxWidth; x++) output[(offsetY + y) * targetWidth + offsetX + x] = box[y * boxWidth + x]!;
  }
  for (let p = 0; p < output.length; p++) output[p] = clamp(output[p]!, 0, 1);
  return output;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}

/** A PNG file's bytes -> the model's single-channel input (targetHeight*targetWidth values in [0, 1]). */
export function preparePng(bytes: Uint8Array, source: string, targetWidth: number, targetHeight: number): PreparedImage {
  const grey = decodePngToGrey(bytes, source);
  const { ink, inverted } = greyToInk(grey);
  const pixels = frameDigit(ink, grey.width, grey.height, targetWidth, targetHeight);
  return { pixels, inverted, sourceWidth: grey.width, sourceHeight: grey.height };
}
