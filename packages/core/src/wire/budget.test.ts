/**
 * The slow-link budget at the default model's size: with topk at its final density, a
 * worker's upload and the summed update of two workers each take at most 3% of the bytes
 * of float32 (issue 20's target), checked on the real encoders' output.
 */
import { describe, expect, it } from 'vitest';
import { countParameters } from '../layers/build.js';
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { Rng } from '../rng.js';
import { MNIST_CNN_DROPOUT } from '../spec.js';
import { TOPK_DENSITY } from './codecs.js';
import { CoordinatorWire } from './coordinator-wire.js';
import { decodePacked } from './packed.js';
import { UploadEncoder } from './upload.js';

describe('topk bytes per step at the default model size', () => {
  it('upload per worker and the 2-worker update are each <= 3% of float32', () => {
    const paramCount = countParameters(MNIST_CNN_DROPOUT);
    expect(paramCount).toBe(1_199_882);
    const float32Bytes = 4 * paramCount;
    const rng = new Rng(1);
    const sum = new Float32Array(paramCount);
    const decoded = new Float32Array(paramCount);
    const uploads: number[] = [];
    for (let worker = 0; worker < 2; worker++) {
      const encoder = new UploadEncoder('topk', paramCount);
      // Heavy-tailed values, as gradients are; a second step so the residual is in play.
      let packed: Uint8Array = new Uint8Array(0);
      for (let step = 0; step < 2; step++) {
        const gradient = Float32Array.from({ length: paramCount }, () => (rng.nextFloat() - 0.5) * Math.exp(4 * rng.nextFloat()));
        packed = encoder.encode(gradient, TOPK_DENSITY.final);
      }
      uploads.push(packed.byteLength);
      decodePacked(packed, decoded, 'upload');
      for (let i = 0; i < paramCount; i++) sum[i] = sum[i]! + decoded[i]!;
    }
    const config: ResolvedOptimizerConfig = { name: 'adam', learningRate: 0.002, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
    const update = new CoordinatorWire('topk', paramCount, 0).encode(1, config, 0.002, 0, sum, 256);
    for (const bytes of uploads) expect(bytes / float32Bytes).toBeLessThanOrEqual(0.03);
    expect(update.packed.byteLength / float32Bytes).toBeLessThanOrEqual(0.03);
    console.log(`topk at density ${TOPK_DENSITY.final}: upload ${uploads.map((bytes) => `${(bytes / 1024).toFixed(1)} KiB (${((100 * bytes) / float32Bytes).toFixed(2)}%)`).join(', ')}; 2-worker update ${(update.packed.byteLength / 1024).toFixed(1)} KiB (${((100 * update.packed.byteLength) / float32Bytes).toFixed(2)}%)`);
  }, 60_000);
});
