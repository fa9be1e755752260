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
import { PACKED_FORMAT, decodePacked } from './packed.js';
import { UploadEncoder } from './upload.js';

/** Bytes of a sparse frame per entry it carries (its 8-byte header left out). */
function bytesPerEntry(packed: Uint8Array): number {
  const count = new DataView(packed.buffer, packed.byteOffset, packed.byteLength).getUint32(4, true);
  return (packed.byteLength - 8) / count;
}

describe('topk bytes per step at the default model size', () => {
  it('upload per worker and the 2-worker update are each <= 3% of float32', () => {
    const paramCount = countParameters(MNIST_CNN_DROPOUT);
    expect(paramCount).toBe(1_199_882);
    const float32Bytes = 4 * paramCount;
    const rng = new Rng(1);
    const sum = new Float32Array(paramCount);
    const decoded = new Float32Array(paramCount);
    const uploads: Uint8Array[] = [];
    for (let worker = 0; worker < 2; worker++) {
      const encoder = new UploadEncoder('topk', paramCount);
      // Heavy-tailed values, as gradients are; a second step so the residual is in play.
      let packed: Uint8Array = new Uint8Array(0);
      for (let step = 0; step < 2; step++) {
        const gradient = Float32Array.from({ length: paramCount }, () => (rng.nextFloat() - 0.5) * Math.exp(4 * rng.nextFloat()));
        packed = encoder.encode(gradient, TOPK_DENSITY.final);
      }
      uploads.push(packed);
      decodePacked(packed, decoded, 'upload');
      for (let i = 0; i < paramCount; i++) sum[i] = sum[i]! + decoded[i]!;
    }
    const config: ResolvedOptimizerConfig = { name: 'adam', learningRate: 0.002, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
    const update = new CoordinatorWire('topk', paramCount, 0).encode(1, config, 0.002, 0, sum, 256);
    const updateBytes = update.packed.byteLength;
    for (const packed of [...uploads, update.packed]) {
      // Sparse bf16 both ways: 2 bytes a value plus a varint gap (1 byte for most at these densities).
      expect(packed[0]).toBe(PACKED_FORMAT.sparseBf16);
      expect(packed.byteLength / float32Bytes).toBeLessThanOrEqual(0.03);
      expect(bytesPerEntry(packed)).toBeLessThan(3.5);
    }
    const summary = (packed: Uint8Array): string => `${(packed.byteLength / 1024).toFixed(1)} KiB (${((100 * packed.byteLength) / float32Bytes).toFixed(2)}%, ${bytesPerEntry(packed).toFixed(2)} bytes an entry)`;
    console.log(`topk at density ${TOPK_DENSITY.final}: upload ${uploads.map(summary).join(', ')}; 2-worker update ${summary(update.packed)} [${updateBytes} bytes]`);
  }, 60_000);
});
