/**
 * Export a Convoy model (spec + parameters in DESIGN.md's layout) as a standard ONNX model,
 * opset 13, that any ONNX runtime can run:
 *
 *   input  "input"          float [N, C, H, W]  (N symbolic; pixels in [0, 1] like Convoy's)
 *   output "probabilities"  float [N, classes]  (softmax of the last layer, as Model.predict)
 *
 * Each layer's operators are written by its declaration (layers/<type>.ts, `exportOnnx`);
 * the exporter walks the layers and adds the final Softmax(axis -1).
 *
 * Convoy's parameters are copied verbatim: the layouts already agree with ONNX's.
 */
import { layerDeclaration, isLayerType } from '../layers/registry.js';
import { formatShape } from '../shapes.js';
import type { ModelSpec } from '../spec.js';
import { OnnxExportError, OnnxGraphBuilder, intAttribute, type OnnxValue } from './onnx-graph.js';
import { ONNX_IR_VERSION, ONNX_OPSET_VERSION, TensorDataType, onnxModelType, type OnnxModel, type OnnxValueInfo } from './onnx-schema.js';

export { OnnxExportError, type OnnxExportErrorCode } from './onnx-graph.js';

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
  const graph = new OnnxGraphBuilder(params);

  // Walk the layers with the shape of one image: [C, H, W] or [features].
  let value: OnnxValue = { name: ONNX_INPUT_NAME, shape: [...spec.input] };
  spec.layers.forEach((layer, index) => {
    const prefix = `layer${index}_${layer.type}`;
    if (!isLayerType(layer.type)) {
      throw new OnnxExportError('UNSUPPORTED_LAYER', `${prefix}: layer type '${String(layer.type)}' cannot be exported`);
    }
    value = layerDeclaration(layer).exportOnnx(layer, graph, prefix, value);
  });
  const shape = value.shape;
  if (shape.length !== 1) {
    throw new OnnxExportError('BAD_SHAPE', `the last layer outputs ${formatShape(shape)}; a classifier must end with a dense layer`);
  }
  if (graph.paramOffset !== params.length) {
    throw new OnnxExportError(
      'PARAM_COUNT_MISMATCH',
      `the spec has ${graph.paramOffset} parameters but ${params.length} were given`,
    );
  }
  graph.addNode('Softmax', 'softmax', [value.name], ONNX_OUTPUT_NAME, [intAttribute('axis', -1)]);

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
