/**
 * Flatten: [channels, height, width] -> [channels*height*width] in C,H,W order. In NCHW
 * memory that is the same bytes, so the layer is a view: the model hands it one buffer as
 * both input and output (aliasesInput) and forward/backward have nothing to do.
 */
import type { FloatArray } from '../kernels/kernels.js';
import type { Rng } from '../rng.js';
import { shapeSize } from '../shapes.js';
import type { FlattenSpec } from '../spec.js';
import { type ForwardContext, type Layer, type Shape, checkKeys } from './layer.js';

export class FlattenLayer<A extends FloatArray = Float32Array> implements Layer<A> {
  readonly type = 'flatten';
  readonly aliasesInput = true;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly paramCount = 0;

  constructor(spec: FlattenSpec, inputShape: Shape, where: string) {
    checkKeys(where, spec, ['type']);
    this.inputShape = inputShape;
    this.outputShape = [shapeSize(inputShape)];
  }

  attach(): void {}
  initialize(_rng: Rng): void {}

  // NOTE: output is input and dInput is dOutput (the model passes the same buffers).
  forward(_batch: number, _input: A, _output: A, _context: ForwardContext): void {}
  backward(_batch: number, _input: A, _output: A, _dOutput: A, _dInput: A | null): void {}
}
