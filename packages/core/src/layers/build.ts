/**
 * From a model spec to a validated list of layers. Keras-style `activation: 'relu'` on a
 * conv2d or dense layer becomes a separate ReLU layer; the last layer must be a dense
 * layer with `activation: 'softmax'`, which the model fuses with the cross-entropy loss.
 * Every error is a SpecError naming the spec layer ("layer 3 (maxpool2d): ...").
 */
import { checkKeys } from '../check-keys.js';
import type { FloatArray } from '../kernels/kernels.js';
import { formatShape, shapeSize } from '../shapes.js';
import type { LayerSpec, ModelSpec } from '../spec.js';
import { type Layer, type Shape, SpecError, checkPositiveInteger, layerLabel } from './layer.js';
import { LAYER_TYPES, isLayerType, layerDeclaration } from './registry.js';

export interface BuiltLayers<A extends FloatArray> {
  readonly inputShape: readonly [number, number, number];
  /** The expanded layers, in order (activations as separate ReLU layers; no softmax). */
  readonly layers: readonly Layer<A>[];
  /** Units of the last dense layer. */
  readonly classes: number;
  readonly paramCount: number;
}

export function buildLayers<A extends FloatArray = Float32Array>(spec: ModelSpec): BuiltLayers<A> {
  if (typeof spec !== 'object' || spec === null) throw new SpecError(`model spec must be an object, got ${JSON.stringify(spec)}`);
  const inputShape = checkInput(spec.input);
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) throw new SpecError('model spec: layers must be a non-empty list');

  const layers: Layer<A>[] = [];
  let shape: Shape = inputShape;
  spec.layers.forEach((layerSpec: LayerSpec, index: number) => {
    const type = typeof layerSpec === 'object' && layerSpec !== null ? (layerSpec as { type?: unknown }).type : undefined;
    const where = layerLabel(index, String(type));
    if (!isLayerType(type)) {
      throw new SpecError(`layer ${index + 1}: unknown layer type ${JSON.stringify(type)} (known: ${LAYER_TYPES.join(', ')})`);
    }
    const declaration = layerDeclaration(layerSpec);
    checkKeys(where, layerSpec, declaration.options, (message) => new SpecError(message));
    const isLast = index === spec.layers.length - 1;
    for (const layer of declaration.build<A>(layerSpec, shape, where, isLast)) {
      layers.push(layer);
      shape = layer.outputShape;
    }
    if (shapeSize(shape) < 1) throw new SpecError(`${where}: output ${formatShape(shape)} is empty`);
  });

  const last = spec.layers[spec.layers.length - 1]!;
  if (last.type !== 'dense' || last.activation !== 'softmax') {
    throw new SpecError(`${layerLabel(spec.layers.length - 1, last.type)}: the last layer must be a dense layer with activation 'softmax' (fused with the cross-entropy loss)`);
  }
  if (last.units < 2) throw new SpecError(`${layerLabel(spec.layers.length - 1, 'dense')}: a softmax over ${last.units} class cannot learn anything; use units >= 2`);
  const paramCount = layers.reduce((sum, layer) => sum + layer.paramCount, 0);
  return { inputShape, layers, classes: last.units, paramCount };
}

/** The number of parameters a spec describes (validates it). */
export function countParameters(spec: ModelSpec): number {
  return buildLayers(spec).paramCount;
}

function checkInput(input: unknown): [number, number, number] {
  if (!Array.isArray(input) || input.length !== 3) {
    throw new SpecError(`model spec: input must be [channels, height, width], got ${JSON.stringify(input)}`);
  }
  return [0, 1, 2].map((axis) => checkPositiveInteger('model spec', `input[${axis}]`, input[axis])) as [number, number, number];
}
