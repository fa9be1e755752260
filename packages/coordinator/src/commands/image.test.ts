// Picture preparation of `convoy predict`: resampling weights, grey conversion, inversion,
// MNIST framing, and the undecodable-PNG error.
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { gatherImages } from '@convoy/core';
import { loadMnist } from '@convoy/core/node';
import { CliError } from './errors.js';
import { axisWeights, decodePngToGrey, greyToInk, preparePng, resample } from './image.js';

function pngBytes(width: number, height: number, rgba: (x: number, y: number) => [number, number, number, number]): Uint8Array {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) png.data.set(rgba(x, y), 4 * (y * width + x));
  }
  return PNG.sync.write(png);
}

describe('axisWeights', () => {
  it('area average when shrinking: 4 -> 2 averages pairs, 3 -> 2 splits the middle pixel', () => {
    expect(axisWeights(4, 2)).toEqual([[[0, 0.5], [1, 0.5]], [[2, 0.5], [3, 0.5]]]);
    const weights = axisWeights(3, 2);
    expect(weights[0]!.map(([i]) => i)).toEqual([0, 1]);
    expect(weights[0]![0]![1]).toBeCloseTo(2 / 3, 12);
    expect(weights[0]![1]![1]).toBeCloseTo(1 / 3, 12);
    expect(weights[1]!.map(([i]) => i)).toEqual([1, 2]);
    expect(weights[1]![0]![1]).toBeCloseTo(1 / 3, 12);
  });

  it('bilinear between pixel centres when enlarging: 2 -> 4 gives 1, 3/4+1/4, 1/4+3/4, 1', () => {
    // output centres map to source -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    expect(axisWeights(2, 4)).toEqual([[[0, 1], [1, 0]], [[0, 0.75], [1, 0.25]], [[0, 0.25], [1, 0.75]], [[1, 1]]]);
  });

  it('every output pixel has weights summing to 1 (sizes 28<->100, 7->28, 45->28)', () => {
    for (const [from, to] of [[100, 28], [28, 100], [7, 28], [45, 28], [28, 28]] as const) {
      for (const taps of axisWeights(from, to)) expect(taps.reduce((sum, [, weight]) => sum + weight, 0)).toBeCloseTo(1, 12);
    }
  });

  it('resample keeps a constant image constant and shrinks a 2x2 block pattern to its means', () => {
    const constant = resample(new Float32Array(30 * 20).fill(0.25), 30, 20, 7, 11);
    for (const value of constant) expect(value).toBeCloseTo(0.25, 6);
    // [[1,0],[0,0]] tiled 2x2 -> 1x1 mean 0.25
    expect(Array.from(resample(Float32Array.from([1, 0, 0, 0]), 2, 2, 1, 1))).toEqual([0.25]);
  });
});

describe('decodePngToGrey and greyToInk', () => {
  it('grey is BT.601 luma with alpha composited on white', () => {
    const bytes = pngBytes(3, 1, (x) => ([[255, 0, 0, 255], [0, 0, 0, 0], [0, 0, 0, 128]] as const)[x]!.slice() as [number, number, number, number]);
    const grey = decodePngToGrey(bytes, 'three.png');
    expect(grey.width).toBe(3);
    expect(grey.pixels[0]).toBeCloseTo(0.299 * 255, 3);
    expect(grey.pixels[1]).toBeCloseTo(255, 4);
    expect(grey.pixels[2]).toBeCloseTo(255 * (1 - 128 / 255), 3);
  });

  it('reads 16-bit grey and 8-bit grey+alpha PNGs', () => {
    const sixteen = new PNG({ width: 2, height: 1, bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false });
    // Samples 0 and 65535 (black and white whatever the byte order), read back scaled to 8 bits.
    sixteen.data = Buffer.from(new Uint16Array([0, 65535]).buffer);
    const bytes = PNG.sync.write(sixteen, { bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false });
    expect(bytes[24]).toBe(16); // IHDR bit depth
    expect(Array.from(decodePngToGrey(bytes, 'sixteen.png').pixels)).toEqual([0, 255]);
    const greyAlpha = pngBytes(2, 1, (x) => (x === 0 ? [10, 10, 10, 255] : [0, 0, 0, 0]));
    const greyAlphaPng = PNG.sync.write(PNG.sync.read(Buffer.from(greyAlpha)), { colorType: 4 });
    expect(greyAlphaPng[25]).toBe(4); // IHDR colour type: grey + alpha
    expect(Array.from(decodePngToGrey(greyAlphaPng, 'grey-alpha.png').pixels)).toEqual([10, 255]);
  });

  it('inverts dark ink on light paper and subtracts the paper level', () => {
    // 5x5 paper at 200 with a dark (50) centre pixel: ink = (255-50) - (255-200) = 150, stretched to 1
    const pixels = new Float32Array(25).fill(200);
    pixels[12] = 50;
    const { ink, inverted } = greyToInk({ width: 5, height: 5, pixels });
    expect(inverted).toBe(true);
    expect(ink[12]).toBe(1);
    expect(ink[0]).toBe(0);
  });

  it('keeps light ink on dark paper as it is', () => {
    const pixels = new Float32Array(25);
    pixels[12] = 255;
    pixels[13] = 127.5;
    const { ink, inverted } = greyToInk({ width: 5, height: 5, pixels });
    expect(inverted).toBe(false);
    expect([ink[12], ink[13], ink[0]]).toEqual([1, 0.5, 0]);
  });

  it('a file that is not a PNG is a BAD_IMAGE CliError naming the file', () => {
    const error = (() => {
      try {
        decodePngToGrey(new TextEncoder().encode('not a png at all'), 'notes.png');
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).code).toBe('BAD_IMAGE');
    expect((error as CliError).message).toMatch(/^notes\.png: not a PNG file \(it starts with 6e 6f 74 20/);
  });
});

describe('preparePng on MNIST digits', () => {
  const test = loadMnist().test;
  const original = new Float32Array(28 * 28);

  function correlation(a: Float32Array, b: Float32Array): number {
    const mean = (v: Float32Array) => v.reduce((s, x) => s + x, 0) / v.length;
    const [ma, mb] = [mean(a), mean(b)];
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = 0; i < a.length; i++) {
      ab += (a[i]! - ma) * (b[i]! - mb);
      aa += (a[i]! - ma) ** 2;
      bb += (b[i]! - mb) ** 2;
    }
    return ab / Math.sqrt(aa * bb);
  }

  it.each([0, 1, 2, 3, 4])('test image %i: dark-on-light, 3x enlarged, red-on-transparent all come back close to the original', (index) => {
    gatherImages(test, [index], original);
    const byte = (x: number, y: number) => test.pixels[index * 784 + y * 28 + x]!;
    const darkOnLight = preparePng(pngBytes(28, 28, (x, y) => [255 - byte(x, y), 255 - byte(x, y), 255 - byte(x, y), 255]), 'a.png', 28, 28);
    const enlarged = preparePng(pngBytes(84, 84, (x, y) => [byte(x / 3 | 0, y / 3 | 0), byte(x / 3 | 0, y / 3 | 0), 0, 255]), 'b.png', 28, 28);
    const onTransparent = preparePng(pngBytes(40, 56, (x, y) => {
      const inside = x >= 6 && x < 34 && y >= 14 && y < 42;
      return [200, 0, 0, inside ? byte(x - 6, y - 14) : 0];
    }), 'c.png', 28, 28);
    expect(darkOnLight.inverted).toBe(true);
    expect(enlarged.inverted).toBe(false);
    expect(onTransparent.inverted).toBe(true);
    for (const prepared of [darkOnLight, enlarged, onTransparent]) {
      expect(prepared.pixels.length).toBe(784);
      expect(correlation(prepared.pixels, original)).toBeGreaterThan(0.85);
    }
  });
});
