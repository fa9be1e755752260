/**
 * Flatten: [channels, height, width] -> [channels*height*width] in C,H,W order. In NCHW
 * memory that is the same bytes, so the layer is a view: the model hands it one buffer as
 * both input and output (aliasesInput) and forward/backward have nothing to do.
 */
import type { FloatArray } from '../kernels/kernels.js';
import type { Rng } from '../rng.js';
import { shapeSize } from '../shapes.js';
import type { FlattenSpec } from '../spec.js';
import type { LayerDeclaration } from './declaration.js';
import { type ForwardContext, type Layer, type Shape } from './layer.js';

export class FlattenLayer<A extends FloatArray = Float32Array> implements Layer<A> {
  readonly type = 'flatten';
  readonly aliasesInput = true;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly paramCount = 0;

  constructor(_spec: FlattenSpec, inputShape: Shape, _where: string) {
    this.inputShape = inputShape;
    this.outputShape = [shapeSize(inputShape)];
  }

  attach(): void {}
  initialize(_rng: Rng): void {}

  // NOTE: output is input and dInput is dOutput (the model passes the same buffers).
  forward(_batch: number, _input: A, _output: A, _context: ForwardContext): void {}
  backward(_batch: number, _input: A, _output: A, _dOutput: A, _dInput: A | null): void {}
}

export const flattenDeclaration: LayerDeclaration<FlattenSpec> = {
  type: 'flatten',
  options: ['type'],
  build: <A extends FloatArray>(spec: FlattenSpec, inputShape: Shape, where: string): Layer<A>[] => [new FlattenLayer<A>(spec, inputShape, where)],
  // Flatten(axis 1): NCHW rows in C,H,W order, which is Convoy's Flatten order.
  exportOnnx: (_spec, graph, prefix, input) => ({ name: graph.flatten(prefix, input.shape, input.name), shape: [shapeSize(input.shape)] }),
  describe: () => 'flatten',
};
