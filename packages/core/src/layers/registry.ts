/**
 * Every layer type, one declaration each (declared beside its class in layers/<type>.ts).
 * `satisfies` makes the compiler name a LayerSpec member without a declaration here (and a
 * declaration whose type is not in the union); the spec parser, the protocol's spec check,
 * the ONNX exporter and the dashboard all read their lists from this object.
 */
import type { LayerSpec } from '../spec.js';
import { avgPool2dDeclaration } from './avgpool2d.js';
import { conv2dDeclaration } from './conv2d.js';
import type { LayerDeclaration } from './declaration.js';
import { denseDeclaration } from './dense.js';
import { dropoutDeclaration } from './dropout.js';
import { flattenDeclaration } from './flatten.js';
import { maxPool2dDeclaration } from './maxpool2d.js';
import { reluDeclaration } from './relu.js';

export type LayerType = LayerSpec['type'];

type Declarations = { readonly [T in LayerType]: LayerDeclaration<Extract<LayerSpec, { type: T }>> };

/** In the order error messages list them ("known: conv2d, maxpool2d, ..."). */
const DECLARATIONS = {
  conv2d: conv2dDeclaration,
  maxpool2d: maxPool2dDeclaration,
  dense: denseDeclaration,
  relu: reluDeclaration,
  dropout: dropoutDeclaration,
  flatten: flattenDeclaration,
  avgpool2d: avgPool2dDeclaration,
} as const satisfies Declarations;

export const LAYER_TYPES: readonly LayerType[] = Object.keys(DECLARATIONS) as LayerType[];

export function isLayerType(type: unknown): type is LayerType {
  // NOTE: Object.hasOwn, not `in`: "constructor" or "toString" must not pass as layer types.
  return typeof type === 'string' && Object.hasOwn(DECLARATIONS, type);
}

/**
 * The declaration of `spec`'s type.
 * NOTE: the one cast of the registry: TypeScript cannot correlate `spec.type` with the
 * matching entry of a mapped type, but `satisfies Declarations` above guarantees it.
 */
export function layerDeclaration<S extends LayerSpec>(spec: S): LayerDeclaration<S> {
  return DECLARATIONS[spec.type] as unknown as LayerDeclaration<S>;
}

/** How the dashboard names a layer ("conv2d 32 3×3 relu"); a type this build does not know shows as itself. */
export function describeLayer(spec: LayerSpec): string {
  return isLayerType(spec.type) ? layerDeclaration(spec).describe(spec) : String((spec as { type: unknown }).type);
}
