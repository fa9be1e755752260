/**
 * Inverted dropout (Srivastava et al. 2014, scaled at training time as Keras does): while
 * training, each activation is kept with probability 1 - rate and scaled by 1/(1 - rate),
 * so the expected output equals the input and inference needs no rescaling.
 *   input [batch, ...shape] -> output [batch, ...shape]; mask of the same size.
 * Image i's mask comes from context.imageRngs[i] (seeded with that image's dropout seed),
 * so it does not depend on which worker computes the image or on its chunk.
 */
import type { FloatArray, Kernels } from '../kernels/kernels.js';
import type { Rng } from '../rng.js';
import { shapeSize } from '../shapes.js';
import type { DropoutSpec } from '../spec.js';
import type { LayerDeclaration } from './declaration.js';
import { type ForwardContext, type Layer, type Shape, SpecError } from './layer.js';

export class DropoutLayer<A extends FloatArray = Float32Array> implements Layer<A> {
  readonly type = 'dropout';
  readonly aliasesInput = false;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly paramCount = 0;
  readonly rate: number;
  private readonly size: number;
  private kernels: Kernels<A> | undefined;
  private mask!: A;
  /** Whether the last forward applied the mask (training with rate > 0). */
  private masked = false;

  constructor(spec: DropoutSpec, inputShape: Shape, where: string) {
    const rate = spec.rate;
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
      throw new SpecError(`${where}: rate must be a number in [0, 1), got ${JSON.stringify(rate)}`);
    }
    this.rate = rate;
    this.inputShape = inputShape;
    this.outputShape = inputShape;
    this.size = shapeSize(inputShape);
  }

  attach(kernels: Kernels<A>, _params: A, _gradient: A, maxBatch: number): void {
    this.kernels = kernels;
    this.mask = kernels.allocate(maxBatch * this.size);
  }

  initialize(_rng: Rng): void {}

  // training: output = input * mask, mask in {0, 1/(1-rate)}; otherwise output = input
  forward(batch: number, input: A, output: A, context: ForwardContext): void {
    const length = batch * this.size;
    this.masked = context.training && this.rate > 0;
    if (!this.masked) {
      output.set(input.subarray(0, length));
      return;
    }
    if (context.imageRngs.length < batch) throw new Error(`dropout: ${batch} images but ${context.imageRngs.length} dropout streams`);
    this.drawMask(batch, context.imageRngs);
    this.attached().multiply(length, input, this.mask, output);
  }

  // dInput = dOutput * mask (the same mask as the forward)
  backward(batch: number, _input: A, _output: A, dOutput: A, dInput: A | null): void {
    if (dInput === null) return;
    const length = batch * this.size;
    if (this.masked) this.attached().multiply(length, dOutput, this.mask, dInput);
    else dInput.set(dOutput.subarray(0, length));
  }

  /** The mask of the last forward (for tests): batch * size entries, each 0 or 1/(1-rate). */
  lastMask(batch: number): A {
    return this.mask.subarray(0, batch * this.size) as A;
  }

  private drawMask(batch: number, imageRngs: readonly Rng[]): void {
    const keep = 1 / (1 - this.rate);
    for (let image = 0; image < batch; image++) imageRngs[image]!.fillDropoutMask(this.mask, image * this.size, this.size, this.rate, keep);
  }

  private attached(): Kernels<A> {
    if (this.kernels === undefined) throw new Error('dropout: attach() must be called before forward/backward');
    return this.kernels;
  }
}

export const dropoutDeclaration: LayerDeclaration<DropoutSpec> = {
  type: 'dropout',
  options: ['type', 'rate'],
  build: <A extends FloatArray>(spec: DropoutSpec, inputShape: Shape, where: string): Layer<A>[] => [new DropoutLayer<A>(spec, inputShape, where)],
  // Identity at inference: no operator.
  exportOnnx: (_spec, _graph, _prefix, input) => input,
  describe: (spec) => `dropout ${spec.rate}`,
};
