/**
 * Dense (fully connected) with bias.
 *   input [batch, inFeatures] -> output [batch, units]
 *   weight [units, inFeatures] (PyTorch's layout), bias [units]
 */
import type { FloatArray, Kernels } from '../kernels/kernels.js';
import type { Rng } from '../rng.js';
import { floatAttribute, intAttribute } from '../export/onnx-graph.js';
import { formatShape, shapeSize } from '../shapes.js';
import type { DenseSpec } from '../spec.js';
import { type LayerDeclaration, describeActivation } from './declaration.js';
import { type ForwardContext, type Layer, type Shape, SpecError, checkOneOf, checkPositiveInteger, glorotUniform } from './layer.js';
import { ReluLayer } from './relu.js';

export class DenseLayer<A extends FloatArray = Float32Array> implements Layer<A> {
  readonly type = 'dense';
  readonly aliasesInput = false;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly paramCount: number;
  readonly weightCount: number;
  readonly inFeatures: number;
  readonly units: number;
  readonly fanIn: number;
  readonly fanOut: number;

  private kernels: Kernels<A> | undefined;
  private weight!: A;
  private bias!: A;
  private dWeight!: A;
  private dBias!: A;

  constructor(spec: DenseSpec, inputShape: Shape, where: string) {
    if (inputShape.length !== 1) {
      throw new SpecError(`${where}: expects a flat input [features], got ${formatShape(inputShape)}: add a flatten layer before it`);
    }
    this.units = checkPositiveInteger(where, 'units', spec.units);
    checkOneOf(where, 'activation', spec.activation ?? 'linear', ['relu', 'linear', 'softmax']);
    this.inFeatures = inputShape[0]!;
    this.inputShape = inputShape;
    this.outputShape = [this.units];
    this.weightCount = this.units * this.inFeatures;
    this.paramCount = this.weightCount + this.units;
    this.fanIn = this.inFeatures;
    this.fanOut = this.units;
  }

  attach(kernels: Kernels<A>, params: A, gradient: A): void {
    this.kernels = kernels;
    this.weight = params.subarray(0, this.weightCount) as A;
    this.bias = params.subarray(this.weightCount, this.paramCount) as A;
    this.dWeight = gradient.subarray(0, this.weightCount) as A;
    this.dBias = gradient.subarray(this.weightCount, this.paramCount) as A;
  }

  initialize(rng: Rng): void {
    glorotUniform(rng, this.weight, this.fanIn, this.fanOut);
    this.bias.fill(0);
  }

  // output[n, o] = bias[o] + sum_i input[n, i] * weight[o, i]
  forward(batch: number, input: A, output: A, _context: ForwardContext): void {
    this.attached().denseForward(batch, this.inFeatures, this.units, input, this.weight, this.bias, output);
  }

  // dWeight += dOutput^T input; dBias += column sums of dOutput; dInput = dOutput weight
  backward(batch: number, input: A, _output: A, dOutput: A, dInput: A | null): void {
    this.attached().denseBackward(batch, this.inFeatures, this.units, input, this.weight, dOutput, this.dWeight, this.dBias, dInput);
  }

  private attached(): Kernels<A> {
    if (this.kernels === undefined) throw new Error('dense: attach() must be called before forward/backward');
    return this.kernels;
  }
}

export const denseDeclaration: LayerDeclaration<DenseSpec> = {
  type: 'dense',
  options: ['type', 'units', 'activation'],
  build<A extends FloatArray>(spec: DenseSpec, inputShape: Shape, where: string, isLast: boolean): Layer<A>[] {
    const dense = new DenseLayer<A>(spec, inputShape, where);
    if (spec.activation === 'softmax' && !isLast) {
      throw new SpecError(`${where}: activation 'softmax' is allowed on the last layer only (it is fused with the cross-entropy loss)`);
    }
    return spec.activation === 'relu' ? [dense, new ReluLayer<A>({ type: 'relu' }, dense.outputShape, where)] : [dense];
  },
  // Gemm(transB 1): weight [out,in] is PyTorch's layout, so B is transposed; + Relu when asked.
  // 'softmax' is the model's final Softmax, which the exporter adds once after the last layer.
  exportOnnx(spec, graph, prefix, input) {
    // A dense layer straight after a conv/pool layer reads the image in C,H,W order too.
    const flat = graph.flatten(`${prefix}_flatten`, input.shape, input.name);
    const weight = graph.tensor(`${prefix}.weight`, [spec.units, shapeSize(input.shape)]);
    const bias = graph.tensor(`${prefix}.bias`, [spec.units]);
    const output = graph.addNode('Gemm', prefix, [flat, weight, bias], prefix, [
      floatAttribute('alpha', 1),
      floatAttribute('beta', 1),
      intAttribute('transA', 0),
      intAttribute('transB', 1),
    ]);
    return { name: spec.activation === 'relu' ? graph.relu(prefix, output) : output, shape: [spec.units] };
  },
  describe: (spec) => `dense ${spec.units}${describeActivation(spec.activation)}`,
};
