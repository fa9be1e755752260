/**
 * AvgPool2D: the mean of each poolHeight x poolWidth window, any stride (default: the pool
 * size, Keras's default), 'valid' or 'same' padding (shapes.ts decides the sizes).
 *   input [batch, channels, inHeight, inWidth] -> output [batch, channels, outHeight, outWidth]
 * NOTE: with 'same' padding the padded cells are EXCLUDED from the count: a window that
 * covers 2 of its 4 cells divides by 2. That is Keras's AveragePooling2D (TensorFlow's
 * avg_pool) and ONNX AveragePool with count_include_pad 0, so exported and Keras-trained
 * models agree; PyTorch's AvgPool2d defaults to counting the padding instead.
 * Backward spreads each output's gradient evenly over the cells its window covered.
 */
import { OnnxExportError, expectImage, intAttribute, intsAttribute } from '../export/onnx-graph.js';
import type { AvgPool2DGeometry, FloatArray, Kernels } from '../kernels/kernels.js';
import type { Rng } from '../rng.js';
import { formatShape, pair, windowExtent } from '../shapes.js';
import type { AvgPool2DSpec } from '../spec.js';
import { type LayerDeclaration, describePair } from './declaration.js';
import { type ForwardContext, type Layer, type Shape, SpecError, checkImageInput, checkOneOf, checkPair } from './layer.js';

export class AvgPool2DLayer<A extends FloatArray = Float32Array> implements Layer<A> {
  readonly type = 'avgpool2d';
  readonly aliasesInput = false;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly paramCount = 0;
  /** Geometry with batch = 0; `geometryFor` fills in the batch. */
  private readonly shape: AvgPool2DGeometry;
  private lastGeometry: AvgPool2DGeometry;
  private kernels: Kernels<A> | undefined;

  constructor(spec: AvgPool2DSpec, inputShape: Shape, where: string) {
    const [channels, inHeight, inWidth] = checkImageInput(where, inputShape);
    const [poolHeight, poolWidth] = checkPair(where, 'poolSize', spec.poolSize);
    const [strideY, strideX] = spec.stride === undefined ? [poolHeight, poolWidth] : checkPair(where, 'stride', spec.stride);
    const padding = checkOneOf(where, 'padding', spec.padding ?? 'valid', ['valid', 'same']);
    const y = windowExtent(inHeight, poolHeight, strideY, padding);
    const x = windowExtent(inWidth, poolWidth, strideX, padding);
    if (y.out < 1 || x.out < 1) {
      throw new SpecError(`${where}: pool ${poolHeight}x${poolWidth} does not fit input ${formatShape(inputShape)}`);
    }
    this.inputShape = inputShape;
    this.outputShape = [channels, y.out, x.out];
    this.shape = {
      batch: 0, channels, inHeight, inWidth, outHeight: y.out, outWidth: x.out,
      poolHeight, poolWidth, strideY, strideX, padTop: y.padBefore, padLeft: x.padBefore,
    };
    this.lastGeometry = this.shape;
  }

  attach(kernels: Kernels<A>): void {
    this.kernels = kernels;
  }

  initialize(_rng: Rng): void {}

  forward(batch: number, input: A, output: A, _context: ForwardContext): void {
    this.attached().avgPool2dForward(this.geometryFor(batch), input, output);
  }

  // The mean is linear: dInput[cell] = sum over the windows covering it of dOutput / count.
  backward(batch: number, _input: A, _output: A, dOutput: A, dInput: A | null): void {
    if (dInput !== null) this.attached().avgPool2dBackward(this.geometryFor(batch), dOutput, dInput);
  }

  /** Reuses the last geometry object while the batch size stays the same (no allocation per step). */
  private geometryFor(batch: number): AvgPool2DGeometry {
    if (this.lastGeometry.batch !== batch) this.lastGeometry = { ...this.shape, batch };
    return this.lastGeometry;
  }

  private attached(): Kernels<A> {
    if (this.kernels === undefined) throw new Error('avgpool2d: attach() must be called before forward/backward');
    return this.kernels;
  }
}

export const avgPool2dDeclaration: LayerDeclaration<AvgPool2DSpec> = {
  type: 'avgpool2d',
  options: ['type', 'poolSize', 'stride', 'padding'],
  build: <A extends FloatArray>(spec: AvgPool2DSpec, inputShape: Shape, where: string): Layer<A>[] => [new AvgPool2DLayer<A>(spec, inputShape, where)],
  // AveragePool with explicit pads (TensorFlow's 'same' rule), count_include_pad 0 (padding not counted), ceil_mode 0.
  exportOnnx(spec, graph, prefix, input) {
    const [channels, height, width] = expectImage(input.shape, prefix);
    const [poolHeight, poolWidth] = pair(spec.poolSize);
    const [strideY, strideX] = pair(spec.stride ?? spec.poolSize);
    const padding = spec.padding ?? 'valid';
    const rows = windowExtent(height, poolHeight, strideY, padding);
    const columns = windowExtent(width, poolWidth, strideX, padding);
    if (rows.out < 1 || columns.out < 1) {
      throw new OnnxExportError('BAD_SHAPE', `${prefix}: a ${poolHeight}x${poolWidth} window does not fit ${formatShape(input.shape)}`);
    }
    const output = graph.addNode('AveragePool', prefix, [input.name], prefix, [
      intsAttribute('kernel_shape', [poolHeight, poolWidth]),
      intsAttribute('strides', [strideY, strideX]),
      // ONNX order: [top, left, bottom, right].
      intsAttribute('pads', [rows.padBefore, columns.padBefore, rows.padAfter, columns.padAfter]),
      intAttribute('count_include_pad', 0),
      intAttribute('ceil_mode', 0),
    ]);
    return { name: output, shape: [channels, rows.out, columns.out] };
  },
  describe(spec) {
    const stride = spec.stride === undefined ? '' : ` /${describePair(spec.stride)}`;
    return `avgpool ${describePair(spec.poolSize)}${stride}${spec.padding === 'same' ? ' same' : ''}`;
  },
};
