// @convoy/core/node: the parts of the core that need Node (files, node:crypto), next to the
// browser-safe @convoy/core. A subpath of the same package rather than a package of its own:
// these modules share core's types (Dataset, ModelSpec, the optimizer configs) and the
// checkpoint holds the model's own state, so they version together; a subpath keeps one
// package, one build and one test run, and `exports` keeps a browser bundle from ever
// resolving this file unless a page imports it by name.

// --- data files and the content hash
export { parseIdx, readIdx } from './data/idx.js';
export type { IdxArray } from './data/idx.js';
export { datasetHash } from './data/dataset-hash.js';
export { defaultMnistDir, loadIdxDataset, loadMnist, MNIST_FILES } from './data/mnist.js';

// --- WebAssembly kernels: where this package's builds are
export { wasmPath } from './kernels/wasm/build-files.node.js';

// --- native kernels (an addon built for this CPU at install; 'auto' here prefers it)
export {
  createNativeKernels,
  defaultNodeKernels,
  nativeKernelsStatus,
  NativeKernels,
  NativeKernelsError,
  NATIVE_ADDON_PATH,
  selectNodeKernels,
} from './kernels/native/index.js';
export type { NativeStatus } from './kernels/native/index.js';

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
