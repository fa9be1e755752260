/**
 * The graph under construction while a model is exported to ONNX: nodes, initializers and
 * the parameters consumed so far. Each layer's declaration (layers/<type>.ts) adds its own
 * operators through it, so this file names no layer type.
 *
 * NOTE: no protobufjs here (that is onnx-schema.ts): the layer files import this module,
 * and the layers load in a browser page where the exporter is never used.
 */
import { formatShape, shapeSize } from '../shapes.js';
import type { OnnxAttribute, OnnxNode, OnnxTensor } from './onnx-schema.js';

/** TensorProto.DataType values used here. */
export const TensorDataType = { FLOAT: 1, INT64: 7 } as const;

/** AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

export type OnnxExportErrorCode = 'UNSUPPORTED_LAYER' | 'BAD_SHAPE' | 'PARAM_COUNT_MISMATCH';

export class OnnxExportError extends Error {
  override readonly name = 'OnnxExportError';
  constructor(
    readonly code: OnnxExportErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A value flowing between layers: its graph name and the shape of one image ([C, H, W] or [features]). */
export interface OnnxValue {
  readonly name: string;
  readonly shape: readonly number[];
}

export class OnnxGraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  /** Parameters consumed so far (weight then bias, layer by layer). */
  paramOffset = 0;

  constructor(private readonly params: Float32Array) {}

  /** Adds one node whose single output is named `output`; returns that name. */
  addNode(opType: string, name: string, inputs: string[], output: string, attribute: OnnxAttribute[] = []): string {
    this.nodes.push({ input: inputs, output: [output], name, op_type: opType, attribute });
    return output;
  }

  relu(prefix: string, value: string): string {
    return this.addNode('Relu', `${prefix}_relu`, [value], `${prefix}_relu`);
  }

  /** [N, C, H, W] -> [N, C*H*W] in C,H,W order (Convoy's Flatten order); a flat value passes through. */
  flatten(name: string, shape: readonly number[], value: string): string {
    if (shape.length === 1) return value;
    return this.addNode('Flatten', name, [value], name, [intAttribute('axis', 1)]);
  }

  /** The next `shapeSize(dims)` parameters as a float initializer named `name`. */
  tensor(name: string, dims: number[]): string {
    const length = shapeSize(dims);
    if (this.paramOffset + length > this.params.length) {
      throw new OnnxExportError(
        'PARAM_COUNT_MISMATCH',
        `${name} needs parameters ${this.paramOffset}..${this.paramOffset + length} but only ${this.params.length} were given`,
      );
    }
    const values = this.params.subarray(this.paramOffset, this.paramOffset + length);
    this.paramOffset += length;
    this.initializers.push({ name, dims, data_type: TensorDataType.FLOAT, raw_data: littleEndianFloats(values) });
    return name;
  }
}

export function expectImage(shape: readonly number[], prefix: string): [number, number, number] {
  if (shape.length !== 3) {
    throw new OnnxExportError('BAD_SHAPE', `${prefix}: expects an image [C,H,W] but gets ${formatShape(shape)}`);
  }
  return [shape[0] as number, shape[1] as number, shape[2] as number];
}

/** raw_data must be fixed-width little-endian IEEE 754 whatever the host's byte order. */
function littleEndianFloats(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true);
  return bytes;
}

export function intAttribute(name: string, value: number): OnnxAttribute {
  return { name, type: AttributeType.INT, i: value };
}

export function intsAttribute(name: string, values: number[]): OnnxAttribute {
  return { name, type: AttributeType.INTS, ints: values };
}

export function floatAttribute(name: string, value: number): OnnxAttribute {
  return { name, type: AttributeType.FLOAT, f: value };
}
