/**
 * What a layer type declares, once, beside its class (layers/<type>.ts): the options its
 * spec may carry, how a spec becomes layers (validation, output shape, parameter count and
 * the forward/backward binding to the kernels live in the Layer it builds), its ONNX
 * operators, and how the dashboard names it. registry.ts collects one declaration per
 * member of the LayerSpec union; every list of layer types derives from that registry.
 */
import type { OnnxGraphBuilder, OnnxValue } from '../export/onnx-graph.js';
import type { FloatArray } from '../kernels/kernels.js';
import type { LayerSpec } from '../spec.js';
import type { Layer, Shape } from './layer.js';

export interface LayerDeclaration<S extends LayerSpec> {
  readonly type: S['type'];
  /** Every key the spec may hold ('type' included); any other key is refused before `build`. */
  readonly options: readonly (keyof S & string)[];
  /**
   * The layers `spec` expands into for one input image of `inputShape` (usually one; a
   * Keras-style `activation: 'relu'` adds a ReLU layer). Throws a SpecError starting with
   * `where` ("layer 3 (maxpool2d)") when the spec or the shape does not fit.
   */
  build<A extends FloatArray>(spec: S, inputShape: Shape, where: string, isLast: boolean): Layer<A>[];
  /** Adds the ONNX operators (and the parameters as initializers, in Convoy's order) for `spec` applied to `input`. */
  exportOnnx(spec: S, graph: OnnxGraphBuilder, prefix: string, input: OnnxValue): OnnxValue;
  /** How the dashboard names the layer, e.g. "conv2d 32 3×3 relu" or "maxpool 2×2". */
  describe(spec: S): string;
}

/** "3×3" for a size or "5×3" for a [height, width] pair: how descriptions write windows. */
export function describePair(value: number | readonly [number, number]): string {
  return typeof value === 'number' ? `${value}×${value}` : value.join('×');
}

/** " relu" or " softmax" after a description; nothing for a linear (or absent) activation. */
export function describeActivation(activation: string | undefined): string {
  return activation === undefined || activation === 'linear' ? '' : ` ${activation}`;
}
