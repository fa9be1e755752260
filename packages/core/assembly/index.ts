/**
 * Entry point of Convoy's WebAssembly SIMD kernels (AssemblyScript, built by
 * `pnpm build` into build/kernels-simd.wasm and build/kernels-relaxed.wasm; the relaxed
 * build differs only in `madd`, which becomes f32x4.relaxed_madd).
 * The module imports its memory from JavaScript and never allocates: every address is
 * handed in by the TypeScript side (src/kernels/wasm/).
 */
export { gemm, gemmInit, gemmWorkspaceBytes } from './gemm';
export { conv2dForward, conv2dBackwardFilter, conv2dBackwardInput } from './conv';
export {
  denseForward, denseBackward, maxPool2dForward, maxPool2dBackward, reluForward, reluBackward,
  multiply, scale, softmaxCrossEntropy,
} from './ops';
export { avgPool2dForward, avgPool2dBackward } from './avgpool';
export { sgdUpdate, adadeltaUpdate, adamUpdate } from './optimizers';
export { replicaSgd, replicaAdadelta, replicaAdam, replicaExtrapolate } from './replica';
export { topkAccumulate } from './topk';

/** First byte after the module's static data: the TypeScript allocator starts above it. */
export function heapBase(): usize {
  return __heap_base;
}
