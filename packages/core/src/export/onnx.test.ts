import { describe, expect, it } from 'vitest';
import { MNIST_CNN, MNIST_CNN_DROPOUT, type ModelSpec } from '../spec.js';
import { buildOnnxModel, decodeOnnxModel, exportOnnx, OnnxExportError } from './onnx.js';
import { onnxModelType, type OnnxModel, type OnnxNode } from './onnx-schema.js';

const MNIST_CNN_PARAMS = 1_199_882;

function ramp(length: number): Float32Array {
  // Distinct values so that a shifted or reordered tensor cannot pass.
  return Float32Array.from({ length }, (_, i) => (i % 1000) / 1000 - 0.5 + i * 1e-7);
}

function attribute(node: OnnxNode, name: string): number | number[] | undefined {
  const found = node.attribute.find((entry) => entry.name === name);
  if (found === undefined) return undefined;
  // AttributeType: FLOAT 1, INT 2, INTS 7
  return found.type === 7 ? found.ints : found.type === 2 ? found.i : found.f;
}

function nodesOf(model: OnnxModel, opType: string): OnnxNode[] {
  return model.graph.node.filter((node) => node.op_type === opType);
}

describe('ONNX export of the default MNIST CNN', () => {
  const params = ramp(MNIST_CNN_PARAMS);
  const bytes = exportOnnx(MNIST_CNN, params);
  const model = decodeOnnxModel(bytes);

  it('round-trips through the schema and names opset 13, IR 7, producer convoy', () => {
    expect(onnxModelType().verify(onnxModelType().decode(bytes))).toBeNull();
    expect(model.ir_version).toBe(7);
    expect(model.opset_import).toEqual([{ domain: '', version: 13 }]);
    expect(model.producer_name).toBe('convoy');
    expect(JSON.parse(model.metadata_props.find((entry) => entry.key === 'convoy.spec')?.value ?? '')).toEqual(MNIST_CNN);
  });

  it('has the Keras pipeline as operators, ending in Softmax(axis -1)', () => {
    expect(model.graph.node.map((node) => node.op_type)).toEqual([
      'Conv', 'Relu', 'Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Relu', 'Gemm', 'Softmax',
    ]);
    const softmax = nodesOf(model, 'Softmax')[0]!;
    expect(attribute(softmax, 'axis')).toBe(-1);
    expect(softmax.output).toEqual(['probabilities']);
    for (const gemm of nodesOf(model, 'Gemm')) expect(attribute(gemm, 'transB')).toBe(1);
  });

  it('declares input [N,1,28,28] and output [N,10] with a symbolic batch', () => {
    const dims = (info: OnnxModel['graph']['input'][number]) => info.type.tensor_type.shape.dim;
    expect(dims(model.graph.input[0]!)).toEqual([{ dim_param: 'N' }, { dim_value: 1 }, { dim_value: 28 }, { dim_value: 28 }]);
    expect(dims(model.graph.output[0]!)).toEqual([{ dim_param: 'N' }, { dim_value: 10 }]);
  });

  it('stores every parameter once, in order, with PyTorch shapes', () => {
    expect(model.graph.initializer.map((tensor) => tensor.dims)).toEqual([
      [32, 1, 3, 3], [32], [64, 32, 3, 3], [64], [128, 9216], [128], [10, 128], [10],
    ]);
    const joined = new Uint8Array(model.graph.initializer.reduce((sum, tensor) => sum + tensor.raw_data.length, 0));
    let offset = 0;
    for (const tensor of model.graph.initializer) {
      joined.set(tensor.raw_data, offset);
      offset += tensor.raw_data.length;
    }
    const view = new DataView(joined.buffer);
    const restored = Float32Array.from({ length: joined.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
    expect(restored.length).toBe(params.length);
    // NOTE: toEqual on 1.2M elements takes seconds; count mismatches instead.
    let mismatches = 0;
    for (let i = 0; i < params.length; i++) if (restored[i] !== params[i]) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('exports Dropout as nothing (identity at inference)', () => {
    const withDropout = buildOnnxModel(MNIST_CNN_DROPOUT, params);
    expect(withDropout.graph.node.map((node) => node.op_type)).toEqual(model.graph.node.map((node) => node.op_type));
  });
});

describe('ONNX export of window geometry', () => {
  it("conv 'same' x=[1,28,28] k=[4,3] s=2 pads [top 1, left 0, bottom 1, right 1] (odd pixel after, as TensorFlow)", () => {
    // rows: out = ceil(28/2) = 14, total = 13*2 + 4 - 28 = 2 -> 1 before, 1 after
    // cols: out = 14, total = 13*2 + 3 - 28 = 1 -> 0 before, 1 after
    const spec: ModelSpec = {
      input: [1, 28, 28],
      layers: [
        { type: 'conv2d', filters: 2, kernelSize: [4, 3], stride: 2, padding: 'same' },
        { type: 'flatten' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    };
    const count = 2 * 1 * 4 * 3 + 2 + 3 * (2 * 14 * 14) + 3;
    const conv = nodesOf(buildOnnxModel(spec, ramp(count)), 'Conv')[0]!;
    expect(attribute(conv, 'pads')).toEqual([1, 0, 1, 1]);
    expect(attribute(conv, 'strides')).toEqual([2, 2]);
    expect(attribute(conv, 'kernel_shape')).toEqual([4, 3]);
  });

  it("conv 'valid' has zero pads and maxpool keeps a stride different from its size", () => {
    // conv 'valid' 3x3: 12 -> 10; pool 3x3 stride 2: floor((10-3)/2)+1 = 4; 4*4*4 = 64 features
    const spec: ModelSpec = {
      input: [1, 12, 12],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
        { type: 'maxpool2d', poolSize: 3, stride: 2 },
        { type: 'dense', units: 5 },
      ],
    };
    const model = buildOnnxModel(spec, ramp(4 * 9 + 4 + 5 * 64 + 5));
    expect(attribute(nodesOf(model, 'Conv')[0]!, 'pads')).toEqual([0, 0, 0, 0]);
    const pool = nodesOf(model, 'MaxPool')[0]!;
    expect(attribute(pool, 'kernel_shape')).toEqual([3, 3]);
    expect(attribute(pool, 'strides')).toEqual([2, 2]);
    // a dense layer right after pooling reads the image flattened in C,H,W order
    expect(model.graph.node.map((node) => node.op_type)).toEqual(['Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Softmax']);
    expect(model.graph.initializer[2]!.dims).toEqual([5, 64]);
  });
});

describe('ONNX export errors', () => {
  it('rejects too few and too many parameters with code PARAM_COUNT_MISMATCH', () => {
    for (const length of [MNIST_CNN_PARAMS - 1, MNIST_CNN_PARAMS + 1]) {
      const error = (() => {
        try {
          exportOnnx(MNIST_CNN, new Float32Array(length));
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(OnnxExportError);
      expect((error as OnnxExportError).code).toBe('PARAM_COUNT_MISMATCH');
    }
  });

  it('rejects a network that does not end with a vector (code BAD_SHAPE)', () => {
    const spec: ModelSpec = { input: [1, 8, 8], layers: [{ type: 'conv2d', filters: 2, kernelSize: 3 }] };
    expect(() => exportOnnx(spec, new Float32Array(2 * 9 + 2))).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
  });
});
