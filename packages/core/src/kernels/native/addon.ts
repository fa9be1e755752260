/**
 * Loads the native kernels addon (packages/core/build/convoy-native.node, compiled for this
 * CPU at `pnpm install` by native/build.mjs) once per process, and says why when it cannot.
 * Node only: reached through @convoy/core/node, never from the browser-safe index.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const buildDirectory = fileURLToPath(new URL('../../../build/', import.meta.url));
export const NATIVE_ADDON_PATH = `${buildDirectory}convoy-native.node`;
/** Written by native/build.mjs in place of the addon when the build failed: the reason, one line. */
const FAILURE_PATH = `${buildDirectory}convoy-native.failed.txt`;

type F32 = Float32Array;
/** The addon's exports (native/src/addon.cc): geometry as integers, then arrays, then scalars. */
export interface NativeAddon {
  conv2dForward(...args: [...geometry: number[], input: F32, weight: F32, bias: F32, output: F32, scratch: F32, relu: boolean]): void;
  conv2dBackwardFilter(...args: [...geometry: number[], input: F32, dOutput: F32, dWeight: F32, dBias: F32, scratch: F32]): void;
  conv2dBackwardInput(...args: [...geometry: number[], weight: F32, dOutput: F32, dInput: F32, scratch: F32]): void;
  maxPool2dForward(...args: [...geometry: number[], input: F32, output: F32]): void;
  maxPool2dBackward(...args: [...geometry: number[], input: F32, output: F32, dOutput: F32, dInput: F32]): void;
  avgPool2dForward(...args: [...geometry: number[], input: F32, output: F32]): void;
  avgPool2dBackward(...args: [...geometry: number[], dOutput: F32, dInput: F32]): void;
  denseForward(batch: number, inFeatures: number, outFeatures: number, input: F32, weight: F32, bias: F32, output: F32): void;
  denseBackward(batch: number, inFeatures: number, outFeatures: number, input: F32, weight: F32, dOutput: F32, dWeight: F32, dBias: F32, dInput: F32 | null): void;
  reluForward(length: number, input: F32, output: F32): void;
  reluBackward(length: number, output: F32, dOutput: F32, dInput: F32): void;
  multiply(length: number, a: F32, b: F32, output: F32): void;
  scale(length: number, x: F32, factor: number): void;
  softmaxCrossEntropy(batch: number, classes: number, logits: F32, labels: F32, probabilities: F32, dLogits: F32, gradientScale: number, result: F32): void;
  sgdUpdate(length: number, params: F32, grads: F32, velocity: F32, learningRate: number, momentum: number, nesterov: number): void;
  adadeltaUpdate(length: number, params: F32, grads: F32, accumulatedGrad: F32, accumulatedDelta: F32, learningRate: number, rho: number, epsilon: number): void;
  adamUpdate(length: number, params: F32, grads: F32, m: F32, v: F32, learningRate: number, beta1: number, beta2: number, epsilon: number, step: number): void;
  /** Elements to skip from the array's start to reach a 64-byte boundary. */
  misalignment(array: F32): number;
  /** The vector extension the addon was compiled for, e.g. "AVX-512". */
  target(): string;
}

export type NativeStatus = { readonly available: true; readonly addon: NativeAddon } | { readonly available: false; readonly reason: string };

let status: NativeStatus | undefined;

/** The addon, or why it is not there (the build's own reason when the build failed). Cached. */
export function nativeKernelsStatus(): NativeStatus {
  status ??= load();
  return status;
}

function load(): NativeStatus {
  if (process.env['CONVOY_NATIVE'] === '0') return { available: false, reason: 'disabled by CONVOY_NATIVE=0' };
  if (!existsSync(NATIVE_ADDON_PATH)) {
    const reason = existsSync(FAILURE_PATH) ? readFileSync(FAILURE_PATH, 'utf8').trim() : 'not built (pnpm install builds them)';
    return { available: false, reason };
  }
  try {
    const addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeAddon;
    return { available: true, addon };
  } catch (error) {
    return { available: false, reason: `cannot load ${NATIVE_ADDON_PATH}: ${(error as Error).message.split('\n')[0] ?? ''}` };
  }
}
