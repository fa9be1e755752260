/**
 * MaxPool2D: the max of each poolHeight x poolWidth window, any stride (default: the pool
 * size, Keras's default), 'valid' windows only.
 *   input [batch, channels, inHeight, inWidth] -> output [batch, channels, outHeight, outWidth]
 * Backward routes each output's gradient to the first position of its window holding the max.
 */
import type { FloatArray, Kernels, Pool2DGeometry } from '../kernels/kernels.js';
import type { Rng } from '../rng.js';
import { OnnxExportError, expectImage, intAttribute, intsAttribute } from '../export/onnx-graph.js';
import { formatShape, pair, windowExtent } from '../shapes.js';
import type { MaxPool2DSpec } from '../spec.js';
import { type LayerDeclaration, describePair } from './declaration.js';
import { type ForwardContext, type Layer, type Shape, SpecError, checkImageInput, checkPair } from './layer.js';

export class MaxPool2DLayer<A extends FloatArray = Float32Array> implements Layer<A> {
  readonly type = 'maxpool2d';
  readonly aliasesInput = false;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly paramCount = 0;
  private readonly shape: Pool2DGeometry;
  private lastGeometry: Pool2DGeometry;
  private kernels: Kernels<A> | undefined;

  constructor(spec: MaxPool2DSpec, inputShape: Shape, where: string) {
    const [channels, inHeight, inWidth] = checkImageInput(where, inputShape);
    const [poolHeight, poolWidth] = checkPair(where, 'poolSize', spec.poolSize);
    const [strideY, strideX] = spec.stride === undefined ? [poolHeight, poolWidth] : checkPair(where, 'stride', spec.stride);
    const outHeight = windowExtent(inHeight, poolHeight, strideY, 'valid').out;
    const outWidth = windowExtent(inWidth, poolWidth, strideX, 'valid').out;
    if (outHeight < 1 || outWidth < 1) {
      throw new SpecError(`${where}: pool ${poolHeight}x${poolWidth} does not fit input ${formatShape(inputShape)}`);
    }
    this.inputShape = inputShape;
    this.outputShape = [channels, outHeight, outWidth];
    this.shape = { batch: 0, channels, inHeight, inWidth, outHeight, outWidth, poolHeight, poolWidth, strideY, strideX };
    this.lastGeometry = this.shape;
  }

  attach(kernels: Kernels<A>): void {
    this.kernels = kernels;
  }

  initialize(_rng: Rng): void {}

  forward(batch: number, input: A, output: A, _context: ForwardContext): void {
    this.attached().maxPool2dForward(this.geometryFor(batch), input, output);
  }

  backward(batch: number, input: A, output: A, dOutput: A, dInput: A | null): void {
    if (dInput !== null) this.attached().maxPool2dBackward(this.geometryFor(batch), input, output, dOutput, dInput);
  }

  private geometryFor(batch: number): Pool2DGeometry {
    if (this.lastGeometry.batch !== batch) this.lastGeometry = { ...this.shape, batch };
    return this.lastGeometry;
  }

  private attached(): Kernels<A> {
    if (this.kernels === undefined) throw new Error('maxpool2d: attach() must be called before forward/backward');
    return this.kernels;
  }
}

export const maxPool2dDeclaration: LayerDeclaration<MaxPool2DSpec> = {
  type: 'maxpool2d',
  options: ['type', 'poolSize', 'stride'],
  build: <A extends FloatArray>(spec: MaxPool2DSpec, inputShape: Shape, where: string): Layer<A>[] => [new MaxPool2DLayer<A>(spec, inputShape, where)],
  // MaxPool ('valid' windows, ceil_mode 0).
  exportOnnx(spec, graph, prefix, input) {
    const [channels, height, width] = expectImage(input.shape, prefix);
    const [poolHeight, poolWidth] = pair(spec.poolSize);
    const [strideY, strideX] = pair(spec.stride ?? spec.poolSize);
    const rows = windowExtent(height, poolHeight, strideY, 'valid');
    const columns = windowExtent(width, poolWidth, strideX, 'valid');
    if (rows.out < 1 || columns.out < 1) {
      throw new OnnxExportError('BAD_SHAPE', `${prefix}: a ${poolHeight}x${poolWidth} window does not fit ${formatShape(input.shape)}`);
    }
    const output = graph.addNode('MaxPool', prefix, [input.name], prefix, [
      intsAttribute('kernel_shape', [poolHeight, poolWidth]),
      intsAttribute('strides', [strideY, strideX]),
      intsAttribute('pads', [0, 0, 0, 0]),
      intAttribute('ceil_mode', 0),
    ]);
    return { name: output, shape: [channels, rows.out, columns.out] };
  },
  describe: (spec) => `maxpool ${describePair(spec.poolSize)}`,
};
