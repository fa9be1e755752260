/**
 * Export a Convoy model (spec + parameters in DESIGN.md's layout) as a standard ONNX model,
 * opset 13, that any ONNX runtime can run:
 *
 *   input  "input"          float [N, C, H, W]  (N symbolic; pixels in [0, 1] like Convoy's)
 *   output "probabilities"  float [N, classes]  (softmax of the last layer, as Model.predict)
 *
 * Layer -> operator:
 *   conv2d    -> Conv (weight [out,in,kh,kw], bias [out]; explicit pads, TensorFlow's 'same' rule)
 *                + Relu when activation is 'relu'
 *   maxpool2d -> MaxPool ('valid' windows, ceil_mode 0)
 *   flatten   -> Flatten(axis 1)  (NCHW rows in C,H,W order, which is Convoy's Flatten order)
 *   dense     -> Gemm(transB 1)   (weight [out,in] is PyTorch's layout, so B is transposed)
 *                + Relu when activation is 'relu'
 *   relu      -> Relu
 *   dropout   -> nothing (identity at inference)
 *   end       -> Softmax(axis -1)
 *
 * Convoy's parameters are copied verbatim: the layouts already agree with ONNX's.
 */
import { pair, shapeSize, windowExtent, formatShape } from '../shapes.js';
import type { LayerSpec, ModelSpec } from '../spec.js';
import {
  AttributeType,
  ONNX_IR_VERSION,
  ONNX_OPSET_VERSION,
  TensorDataType,
  onnxModelType,
  type OnnxAttribute,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './onnx-schema.js';

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

export interface OnnxExportOptions {
  /** Written to ModelProto.producer_version. Default '0.1.0'. */
  readonly producerVersion?: string;
  /** Name of the symbolic batch dimension. Default 'N'. */
  readonly batchDimension?: string;
  /** Extra key/value metadata (ModelProto.metadata_props), e.g. the run it came from. */
  readonly metadata?: Readonly<Record<string, string>>;
}

const DEFAULT_EXPORT_OPTIONS = { producerVersion: '0.1.0', batchDimension: 'N' } as const;

export const ONNX_INPUT_NAME = 'input';
export const ONNX_OUTPUT_NAME = 'probabilities';

/** The ONNX ModelProto as a plain object (what `encodeOnnxModel` writes). */
export function buildOnnxModel(spec: ModelSpec, params: Float32Array, options: OnnxExportOptions = {}): OnnxModel {
  const { producerVersion, batchDimension, metadata } = { ...DEFAULT_EXPORT_OPTIONS, ...options };
  const graph = new GraphBuilder(params);

  // Walk the layers with the shape of one image: [C, H, W] or [features].
  let shape: number[] = [...spec.input];
  let value = ONNX_INPUT_NAME;
  spec.layers.forEach((layer, index) => {
    const prefix = `layer${index}_${layer.type}`;
    ({ shape, value } = graph.addLayer(layer, prefix, shape, value));
  });
  if (shape.length !== 1) {
    throw new OnnxExportError('BAD_SHAPE', `the last layer outputs ${formatShape(shape)}; a classifier must end with a dense layer`);
  }
  if (graph.paramOffset !== params.length) {
    throw new OnnxExportError(
      'PARAM_COUNT_MISMATCH',
      `the spec has ${graph.paramOffset} parameters but ${params.length} were given`,
    );
  }
  graph.addNode('Softmax', 'softmax', [value], ONNX_OUTPUT_NAME, [intAttribute('axis', -1)]);

  const classes = shape[0] as number;
  return {
    ir_version: ONNX_IR_VERSION,
    producer_name: 'convoy',
    producer_version: producerVersion,
    model_version: 1,
    doc_string: 'Convoy CNN exported for inference: input NCHW float pixels in [0, 1], output class probabilities.',
    opset_import: [{ domain: '', version: ONNX_OPSET_VERSION }],
    metadata_props: [
      { key: 'convoy.spec', value: JSON.stringify(spec) },
      ...Object.entries(metadata ?? {}).map(([key, entry]) => ({ key, value: entry })),
    ],
    graph: {
      name: 'convoy',
      node: graph.nodes,
      initializer: graph.initializers,
      input: [floatValueInfo(ONNX_INPUT_NAME, batchDimension, spec.input)],
      output: [floatValueInfo(ONNX_OUTPUT_NAME, batchDimension, [classes])],
    },
  };
}

/** ONNX protobuf bytes of the model (what a `.onnx` file holds). */
export function exportOnnx(spec: ModelSpec, params: Float32Array, options: OnnxExportOptions = {}): Uint8Array {
  return encodeOnnxModel(buildOnnxModel(spec, params, options));
}

export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const type = onnxModelType();
  return type.encode(type.fromObject(model)).finish();
}

export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  const type = onnxModelType();
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Uint8Array, defaults: false, arrays: true }) as OnnxModel;
}

class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  /** Parameters consumed so far (weight then bias, layer by layer). */
  paramOffset = 0;

  constructor(private readonly params: Float32Array) {}

  addLayer(layer: LayerSpec, prefix: string, shape: number[], value: string): { shape: number[]; value: string } {
    switch (layer.type) {
      case 'conv2d': {
        const [channels, height, width] = expectImage(shape, prefix);
        const [kernelHeight, kernelWidth] = pair(layer.kernelSize);
        const [strideY, strideX] = pair(layer.stride ?? 1);
        const padding = layer.padding ?? 'valid';
        const rows = windowExtent(height, kernelHeight, strideY, padding);
        const columns = windowExtent(width, kernelWidth, strideX, padding);
        if (rows.out < 1 || columns.out < 1) {
          throw new OnnxExportError('BAD_SHAPE', `${prefix}: a ${kernelHeight}x${kernelWidth} window does not fit ${formatShape(shape)}`);
        }
        const weight = this.tensor(`${prefix}.weight`, [layer.filters, channels, kernelHeight, kernelWidth]);
        const bias = this.tensor(`${prefix}.bias`, [layer.filters]);
        const output = this.addNode('Conv', prefix, [value, weight, bias], prefix, [
          intsAttribute('kernel_shape', [kernelHeight, kernelWidth]),
          intsAttribute('strides', [strideY, strideX]),
          // ONNX order: [top, left, bottom, right]; 'same' puts the odd pixel after (bottom/right).
          intsAttribute('pads', [rows.padBefore, columns.padBefore, rows.padAfter, columns.padAfter]),
          intsAttribute('dilations', [1, 1]),
          intAttribute('group', 1),
        ]);
        const outShape = [layer.filters, rows.out, columns.out];
        return { shape: outShape, value: layer.activation === 'relu' ? this.relu(prefix, output) : output };
      }
      case 'maxpool2d': {
        const [channels, height, width] = expectImage(shape, prefix);
        const [poolHeight, poolWidth] = pair(layer.poolSize);
        const [strideY, strideX] = pair(layer.stride ?? layer.poolSize);
        const rows = windowExtent(height, poolHeight, strideY, 'valid');
        const columns = windowExtent(width, poolWidth, strideX, 'valid');
        if (rows.out < 1 || columns.out < 1) {
          throw new OnnxExportError('BAD_SHAPE', `${prefix}: a ${poolHeight}x${poolWidth} window does not fit ${formatShape(shape)}`);
        }
        const output = this.addNode('MaxPool', prefix, [value], prefix, [
          intsAttribute('kernel_shape', [poolHeight, poolWidth]),
          intsAttribute('strides', [strideY, strideX]),
          intsAttribute('pads', [0, 0, 0, 0]),
          intAttribute('ceil_mode', 0),
        ]);
        return { shape: [channels, rows.out, columns.out], value: output };
      }
      case 'flatten':
        return { shape: [shapeSize(shape)], value: this.flatten(prefix, shape, value) };
      case 'dense': {
        // A dense layer straight after a conv/pool layer reads the image in C,H,W order too.
        const input = this.flatten(`${prefix}_flatten`, shape, value);
        const inFeatures = shapeSize(shape);
        const weight = this.tensor(`${prefix}.weight`, [layer.units, inFeatures]);
        const bias = this.tensor(`${prefix}.bias`, [layer.units]);
        const output = this.addNode('Gemm', prefix, [input, weight, bias], prefix, [
          floatAttribute('alpha', 1),
          floatAttribute('beta', 1),
          intAttribute('transA', 0),
          intAttribute('transB', 1),
        ]);
        // 'softmax' is the model's final softmax, added once after the last layer.
        return { shape: [layer.units], value: layer.activation === 'relu' ? this.relu(prefix, output) : output };
      }
      case 'relu':
        return { shape, value: this.addNode('Relu', prefix, [value], prefix) };
      case 'dropout':
        return { shape, value };
      default:
        throw new OnnxExportError('UNSUPPORTED_LAYER', `${prefix}: layer type '${(layer as { type: string }).type}' cannot be exported`);
    }
  }

  addNode(opType: string, name: string, inputs: string[], output: string, attribute: OnnxAttribute[] = []): string {
    this.nodes.push({ input: inputs, output: [output], name, op_type: opType, attribute });
    return output;
  }

  private relu(prefix: string, value: string): string {
    return this.addNode('Relu', `${prefix}_relu`, [value], `${prefix}_relu`);
  }

  private flatten(name: string, shape: number[], value: string): string {
    if (shape.length === 1) return value;
    return this.addNode('Flatten', name, [value], name, [intAttribute('axis', 1)]);
  }

  /** The next `shapeSize(dims)` parameters as a float initializer named `name`. */
  private tensor(name: string, dims: number[]): string {
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

function expectImage(shape: number[], prefix: string): [number, number, number] {
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

function floatValueInfo(name: string, batchDimension: string, shape: readonly number[]): OnnxValueInfo {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: TensorDataType.FLOAT,
        shape: { dim: [{ dim_param: batchDimension }, ...shape.map((size) => ({ dim_value: size }))] },
      },
    },
  };
}

function intAttribute(name: string, value: number): OnnxAttribute {
  return { name, type: AttributeType.INT, i: value };
}

function intsAttribute(name: string, values: number[]): OnnxAttribute {
  return { name, type: AttributeType.INTS, ints: values };
}

function floatAttribute(name: string, value: number): OnnxAttribute {
  return { name, type: AttributeType.FLOAT, f: value };
}
