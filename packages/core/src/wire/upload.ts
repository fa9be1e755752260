/**
 * A worker's side of the upload: its gradient sum, compressed by the run's codec, with an
 * error-feedback residual so that what one step does not send is sent later (Seide et al.
 * 2014 for quantisation; Lin et al. 2018, DGC, for sparsification).
 *
 *   bf16: residual += g; sent = bf16(residual); residual -= sent
 *   topk: residual += g; sent = bf16(the k largest |residual| entries); residual -= sent
 *         (sent is 0 off those entries; each sent entry keeps its bf16 rounding error)
 *
 * Residuals are not checkpointed, on purpose. A worker forgets its residual on every
 * `welcome` (a new connection, or a coordinator resumed from its checkpoint), and a new
 * worker starts at zero. What is lost is bounded and small: an entry not sent holds at most
 * the k-th largest magnitude of its last upload (else it would have been sent), one just
 * sent holds its rounding error (at most 2^-8 of its magnitude), so each worker loses at most
 * one step's threshold or rounding error per parameter, in gradient-sum units. Keeping a
 * residual across a resume would be wrong, not just costly: the coordinator replays the
 * steps after its checkpoint, and the residual holds gradients of steps it is
 * about to recompute (counted twice). Checkpointing the residuals would mean uploading 4.8 MB
 * per worker per checkpoint over the slow links topk is for.
 *
 * NOTE: DGC's momentum correction is left out on purpose. It moves SGD's momentum into the
 * workers' accumulation; here the optimizer (Adadelta, Adam or SGD with momentum) runs on
 * the summed update on every replica, so accumulating momentum locally too would apply it
 * twice. What remains of DGC is local accumulation and the sparsity warm-up (codecs.ts).
 */
import { roundToBf16 } from './bf16.js';
import type { WireCodec } from './codecs.js';
import { packBf16, packTopk } from './packed.js';
import { TopKAccumulator } from './topk.js';
import { createTopKArrays } from './topk-kernel.js';

export class UploadEncoder {
  /** What earlier steps did not send, in the gradient's units (sums over slices). */
  readonly residual: Float32Array;
  private readonly bits: Uint16Array | null;
  private readonly topk: TopKAccumulator | null;

  constructor(
    readonly codec: Exclude<WireCodec, 'fp32'>,
    readonly paramCount: number,
  ) {
    // topk: the residual lives with the selection's arrays (WebAssembly memory when it runs here).
    this.topk = codec === 'topk' ? new TopKAccumulator(createTopKArrays(paramCount)) : null;
    this.residual = this.topk?.arrays.residual ?? new Float32Array(paramCount);
    this.bits = codec === 'bf16' ? new Uint16Array(paramCount) : null;
  }

  /** The packed bytes of `gradient` (paramCount floats) plus the residual; `density` is topk's fraction to send. */
  encode(gradient: Float32Array, density: number): Uint8Array {
    switch (this.codec) {
      case 'bf16':
        roundToBf16(gradient, this.bits!, this.residual);
        return packBf16(this.bits!);
      case 'topk': {
        const residual = this.residual;
        const k = Math.max(1, Math.round(density * residual.length));
        const count = this.topk!.addAndSelect(gradient, k);
        // Leaves in the residual what was not sent, rounding errors included.
        return packTopk(residual, this.topk!.arrays.indices, count);
      }
      default: {
        const unhandled: never = this.codec;
        throw new Error(`unknown codec ${String(unhandled)}`);
      }
    }
  }
}
