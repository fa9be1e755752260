// @convoy/core: the public API. Each section is owned by one part of the core.

// --- contracts
export type * from './api.js';
export { MNIST_CNN, MNIST_CNN_DROPOUT } from './spec.js';
export type * from './spec.js';
export { windowExtent, pair, shapeSize, formatShape } from './shapes.js';
export { DROPOUT_STREAM, Rng, mixSeed } from './rng.js';
export type { RngState } from './rng.js';
export type * from './kernels/kernels.js';

// --- model and layers
export { createModel, createNetwork, describeModel, ModelInputError } from './model.js';
export type { Network, NetworkOptions } from './model.js';
export { buildLayers, countParameters } from './layers/build.js';
export { SpecError } from './layers/layer.js';
export type { Layer, ForwardContext } from './layers/layer.js';

// --- kernels (backends and selection)
export { createReferenceKernels } from './kernels/reference.js';
export type { ReferenceKernelsOptions } from './kernels/reference.js';
export { defaultKernels, selectKernels } from './kernels/select.js';
export type { KernelsChoice } from './kernels/select.js';
export { createWasmKernels, WasmKernels, WasmKernelsError, bestWasmVariant, wasmKernelsBuilt } from './kernels/wasm/index.js';
export type { WasmKernelsOptions, WasmVariant } from './kernels/wasm/index.js';

// --- optimizers
export { createOptimizer, stepDecay, OPTIMIZER_NAMES } from './optimizers/create.js';
export { OptimizerError } from './optimizers/optimizer.js';
export type {
  Optimizer,
  OptimizerConfig,
  OptimizerName,
  ResolvedOptimizerConfig,
  SgdConfig,
  AdadeltaConfig,
  AdamConfig,
} from './optimizers/optimizer.js';
export { SGD_DEFAULTS } from './optimizers/sgd.js';
export { ADADELTA_DEFAULTS } from './optimizers/adadelta.js';
export { ADAM_DEFAULTS } from './optimizers/adam.js';

// --- data
export { DataError, parseIdx, readIdx } from './data/idx.js';
export type { IdxArray } from './data/idx.js';
export {
  createDataset,
  datasetHash,
  gatherImages,
  gatherLabels,
  sliceDataset,
  splitValidation,
  subset,
} from './data/dataset.js';
export type { Dataset, DatasetFields } from './data/dataset.js';
export { defaultMnistDir, loadIdxDataset, loadMnist, MNIST_FILES } from './data/mnist.js';

// --- protocol
export * from './protocol/index.js';

// --- checkpoint
export {
  CHECKPOINT_FORMAT_VERSION,
  CHECKPOINT_MAGIC,
  CheckpointError,
  checkpointMessageType,
  decodeCheckpoint,
  encodeCheckpoint,
} from './checkpoint/checkpoint.js';
export type { Checkpoint, CheckpointOptimizer } from './checkpoint/checkpoint.js';
export { readCheckpoint, writeCheckpointAtomic, writeCheckpointAtomicSync } from './checkpoint/file.js';

// --- export
export { exportOnnx, buildOnnxModel, encodeOnnxModel, decodeOnnxModel, OnnxExportError, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from './export/onnx.js';
export type { OnnxExportOptions, OnnxExportErrorCode } from './export/onnx.js';
export { ONNX_OPSET_VERSION, ONNX_IR_VERSION } from './export/onnx-schema.js';
export type { OnnxModel, OnnxNode, OnnxAttribute, OnnxTensor, OnnxValueInfo, OnnxGraph } from './export/onnx-schema.js';
