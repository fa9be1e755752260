/**
 * Conv2D: a bank of `filters` kernels of kernelHeight x kernelWidth over all input channels,
 * any stride, 'valid' or 'same' padding (shapes.ts decides the sizes), with bias.
 *   input  [batch, inChannels, inHeight, inWidth]
 *   weight [filters, inChannels, kernelHeight, kernelWidth], bias [filters]
 *   output [batch, filters, outHeight, outWidth]
 */
import type { Conv2DGeometry, FloatArray, Kernels } from '../kernels/kernels.js';
import type { Rng } from '../rng.js';
import { OnnxExportError, expectImage, intAttribute, intsAttribute } from '../export/onnx-graph.js';
import { formatShape, pair, windowExtent } from '../shapes.js';
import type { Conv2DSpec } from '../spec.js';
import { type LayerDeclaration, describeActivation, describePair } from './declaration.js';
import { type ForwardContext, type Layer, type Shape, SpecError, checkImageInput, checkOneOf, checkPair, checkPositiveInteger, glorotUniform } from './layer.js';
import { ReluLayer } from './relu.js';

export class Conv2DLayer<A extends FloatArray = Float32Array> implements Layer<A> {
  readonly type = 'conv2d';
  readonly aliasesInput = false;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly paramCount: number;
  readonly weightCount: number;
  /** Glorot fans: a weight sees inChannels*kh*kw inputs and feeds filters*kh*kw outputs (Keras). */
  readonly fanIn: number;
  readonly fanOut: number;
  /** Geometry with batch = 0; `geometryFor` fills in the batch. */
  private readonly shape: Conv2DGeometry;

  private kernels: Kernels<A> | undefined;
  private weight!: A;
  private bias!: A;
  private dWeight!: A;
  private dBias!: A;
  private scratch!: A;
  private lastGeometry: Conv2DGeometry;

  constructor(spec: Conv2DSpec, inputShape: Shape, where: string) {
    const [inChannels, inHeight, inWidth] = checkImageInput(where, inputShape);
    const filters = checkPositiveInteger(where, 'filters', spec.filters);
    const [kernelHeight, kernelWidth] = checkPair(where, 'kernelSize', spec.kernelSize);
    const [strideY, strideX] = checkPair(where, 'stride', spec.stride ?? 1);
    const padding = checkOneOf(where, 'padding', spec.padding ?? 'valid', ['valid', 'same']);
    checkOneOf(where, 'activation', spec.activation ?? 'linear', ['relu', 'linear']);
    const y = windowExtent(inHeight, kernelHeight, strideY, padding);
    const x = windowExtent(inWidth, kernelWidth, strideX, padding);
    if (y.out < 1 || x.out < 1) {
      throw new SpecError(`${where}: kernel ${kernelHeight}x${kernelWidth} does not fit input ${formatShape(inputShape)} with '${padding}' padding (output ${y.out}x${x.out})`);
    }
    this.inputShape = inputShape;
    this.outputShape = [filters, y.out, x.out];
    this.weightCount = filters * inChannels * kernelHeight * kernelWidth;
    this.paramCount = this.weightCount + filters;
    this.fanIn = inChannels * kernelHeight * kernelWidth;
    this.fanOut = filters * kernelHeight * kernelWidth;
    this.shape = {
      batch: 0,
      inChannels,
      inHeight,
      inWidth,
      outChannels: filters,
      outHeight: y.out,
      outWidth: x.out,
      kernelHeight,
      kernelWidth,
      strideY,
      strideX,
      padTop: y.padBefore,
      padLeft: x.padBefore,
    };
    this.lastGeometry = this.shape;
  }

  attach(kernels: Kernels<A>, params: A, gradient: A, maxBatch: number): void {
    this.kernels = kernels;
    this.weight = params.subarray(0, this.weightCount) as A;
    this.bias = params.subarray(this.weightCount, this.paramCount) as A;
    this.dWeight = gradient.subarray(0, this.weightCount) as A;
    this.dBias = gradient.subarray(this.weightCount, this.paramCount) as A;
    this.scratch = kernels.allocate(kernels.conv2dScratchLength(this.geometryFor(maxBatch)));
  }

  initialize(rng: Rng): void {
    glorotUniform(rng, this.weight, this.fanIn, this.fanOut);
    this.bias.fill(0);
  }

  /** With `relu`, output = max(0, conv): the model runs a following ReLU layer this way (model.ts). */
  forward(batch: number, input: A, output: A, _context: ForwardContext, relu = false): void {
    this.attached().conv2dForward(this.geometryFor(batch), input, this.weight, this.bias, output, this.scratch, relu);
  }

  // dWeight += sum over images and positions of dOutput x input patch; dInput = transposed convolution of dOutput.
  backward(batch: number, input: A, _output: A, dOutput: A, dInput: A | null): void {
    const kernels = this.attached();
    const geometry = this.geometryFor(batch);
    kernels.conv2dBackwardFilter(geometry, input, dOutput, this.dWeight, this.dBias, this.scratch);
    if (dInput !== null) kernels.conv2dBackwardInput(geometry, this.weight, dOutput, dInput, this.scratch);
  }

  /** Reuses the last geometry object while the batch size stays the same (no allocation per step). */
  private geometryFor(batch: number): Conv2DGeometry {
    if (this.lastGeometry.batch !== batch) this.lastGeometry = { ...this.shape, batch };
    return this.lastGeometry;
  }

  private attached(): Kernels<A> {
    if (this.kernels === undefined) throw new Error('conv2d: attach() must be called before forward/backward');
    return this.kernels;
  }
}

export const conv2dDeclaration: LayerDeclaration<Conv2DSpec> = {
  type: 'conv2d',
  options: ['type', 'filters', 'kernelSize', 'stride', 'padding', 'activation'],
  build<A extends FloatArray>(spec: Conv2DSpec, inputShape: Shape, where: string): Layer<A>[] {
    const conv = new Conv2DLayer<A>(spec, inputShape, where);
    return spec.activation === 'relu' ? [conv, new ReluLayer<A>({ type: 'relu' }, conv.outputShape, where)] : [conv];
  },
  // Conv (weight [out,in,kh,kw], bias [out]; explicit pads, TensorFlow's 'same' rule) + Relu when asked.
  exportOnnx(spec, graph, prefix, input) {
    const [channels, height, width] = expectImage(input.shape, prefix);
    const [kernelHeight, kernelWidth] = pair(spec.kernelSize);
    const [strideY, strideX] = pair(spec.stride ?? 1);
    const padding = spec.padding ?? 'valid';
    const rows = windowExtent(height, kernelHeight, strideY, padding);
    const columns = windowExtent(width, kernelWidth, strideX, padding);
    if (rows.out < 1 || columns.out < 1) {
      throw new OnnxExportError('BAD_SHAPE', `${prefix}: a ${kernelHeight}x${kernelWidth} window does not fit ${formatShape(input.shape)}`);
    }
    const weight = graph.tensor(`${prefix}.weight`, [spec.filters, channels, kernelHeight, kernelWidth]);
    const bias = graph.tensor(`${prefix}.bias`, [spec.filters]);
    const output = graph.addNode('Conv', prefix, [input.name, weight, bias], prefix, [
      intsAttribute('kernel_shape', [kernelHeight, kernelWidth]),
      intsAttribute('strides', [strideY, strideX]),
      // ONNX order: [top, left, bottom, right]; 'same' puts the odd pixel after (bottom/right).
      intsAttribute('pads', [rows.padBefore, columns.padBefore, rows.padAfter, columns.padAfter]),
      intsAttribute('dilations', [1, 1]),
      intAttribute('group', 1),
    ]);
    return { name: spec.activation === 'relu' ? graph.relu(prefix, output) : output, shape: [spec.filters, rows.out, columns.out] };
  },
  describe(spec) {
    const stride = spec.stride === undefined || spec.stride === 1 ? '' : ` /${describePair(spec.stride)}`;
    const padding = spec.padding === 'same' ? ' same' : '';
    return `conv2d ${spec.filters} ${describePair(spec.kernelSize)}${stride}${padding}${describeActivation(spec.activation)}`;
  },
};
