/**
 * ReLU, elementwise on any shape: output = max(input, 0); dInput = output > 0 ? dOutput : 0.
 * (The subgradient at exactly 0 is taken as 0, like TensorFlow and PyTorch.)
 */
import type { FloatArray, Kernels } from '../kernels/kernels.js';
import type { Rng } from '../rng.js';
import { shapeSize } from '../shapes.js';
import type { ReluSpec } from '../spec.js';
import type { LayerDeclaration } from './declaration.js';
import { type ForwardContext, type Layer, type Shape } from './layer.js';

export class ReluLayer<A extends FloatArray = Float32Array> implements Layer<A> {
  readonly type = 'relu';
  readonly aliasesInput = false;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly paramCount = 0;
  private readonly size: number;
  private kernels: Kernels<A> | undefined;

  constructor(_spec: ReluSpec, inputShape: Shape, _where: string) {
    this.inputShape = inputShape;
    this.outputShape = inputShape;
    this.size = shapeSize(inputShape);
  }

  attach(kernels: Kernels<A>): void {
    this.kernels = kernels;
  }

  initialize(_rng: Rng): void {}

  forward(batch: number, input: A, output: A, _context: ForwardContext): void {
    this.attached().reluForward(batch * this.size, input, output);
  }

  backward(batch: number, _input: A, output: A, dOutput: A, dInput: A | null): void {
    if (dInput !== null) this.attached().reluBackward(batch * this.size, output, dOutput, dInput);
  }

  private attached(): Kernels<A> {
    if (this.kernels === undefined) throw new Error('relu: attach() must be called before forward/backward');
    return this.kernels;
  }
}

export const reluDeclaration: LayerDeclaration<ReluSpec> = {
  type: 'relu',
  options: ['type'],
  build: <A extends FloatArray>(spec: ReluSpec, inputShape: Shape, where: string): Layer<A>[] => [new ReluLayer<A>(spec, inputShape, where)],
  exportOnnx: (_spec, graph, prefix, input) => ({ name: graph.addNode('Relu', prefix, [input.name], prefix), shape: input.shape }),
  describe: () => 'relu',
};
