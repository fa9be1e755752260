// @convoy/core: the public API that runs anywhere, a browser page included: it reaches no
// Node built-in (src/browser-entry.test.ts bundles it for the browser and checks). What needs
// Node (data files, checkpoints, dataset hashing, the kernels' build/ folder) is exported by
// @convoy/core/node (src/node.ts). Each section is owned by one part of the core.

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
export { defaultKernels, KERNELS_CHOICES, selectKernels } from './kernels/select.js';
export type { KernelsChoice } from './kernels/select.js';
export { createWasmKernels, WasmKernels, WasmKernelsError, bestWasmVariant, wasmKernelsBuilt } from './kernels/wasm/index.js';
export type { WasmKernelsOptions, WasmVariant } from './kernels/wasm/index.js';
// A page supplies the kernels' bytes (Node reads them from build/ by itself).
export { provideWasmModule, fetchWasmModules, wasmFileName, WASM_VARIANTS } from './kernels/wasm/loader.js';

// --- optimizers
export { createOptimizer, resolveOptimizerConfig, stepDecay, OPTIMIZER_NAMES } from './optimizers/create.js';
export { OptimizerError } from './optimizers/optimizer.js';
export type {
  Optimizer,
  OptimizerConfig,
  OptimizerName,
  ResolvedOptimizerConfig,
  StateStorage,
  SgdConfig,
  AdadeltaConfig,
  AdamConfig,
} from './optimizers/optimizer.js';
export { SGD_DEFAULTS } from './optimizers/sgd.js';
export { ADADELTA_DEFAULTS } from './optimizers/adadelta.js';
export { ADAM_DEFAULTS } from './optimizers/adam.js';

// --- data (in memory; files are in @convoy/core/node)
export { DataError } from './data/data-error.js';
export {
  createDataset,
  gatherImages,
  gatherLabels,
  sliceDataset,
  splitValidation,
  subset,
} from './data/dataset.js';
export type { Dataset, DatasetFields } from './data/dataset.js';

// --- scores from predicted probabilities
export { PROBABILITY_FLOOR, crossEntropy, argmaxRow, scoreProbabilities, addToConfusion } from './scores.js';
export type { BatchScore } from './scores.js';

// --- protocol
export * from './protocol/index.js';

// --- a step's timeline (dashboard timeline, convoy trace)
export { COORDINATOR_SEGMENTS, WORKER_SEGMENTS, coordinatorSegments, stragglerScores, workerSegments, workersOf } from './timeline.js';
export type { CoordinatorSegmentName, Segment, StragglerScore, WorkerSegmentName } from './timeline.js';

// --- export
export { exportOnnx, buildOnnxModel, encodeOnnxModel, decodeOnnxModel, OnnxExportError, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from './export/onnx.js';
export type { OnnxExportOptions, OnnxExportErrorCode } from './export/onnx.js';
export { ONNX_OPSET_VERSION, ONNX_IR_VERSION } from './export/onnx-schema.js';
export type { OnnxModel, OnnxNode, OnnxAttribute, OnnxTensor, OnnxValueInfo, OnnxGraph } from './export/onnx-schema.js';

// --- wire codecs and replicas (--wire)
export * from './wire/index.js';
