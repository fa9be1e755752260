/**
 * The WebAssembly SIMD backend of the Kernels interface: a thin binding that passes
 * byte addresses and integers to the AssemblyScript kernels (packages/core/assembly/).
 *
 * Memory: one linear memory of fixed size (default 1 GiB of address space), created once
 * and never grown, because `memory.grow` detaches every typed-array view handed out.
 * Pages that are never written are never made resident, so a worker pays only for what
 * it allocates. `allocate` is a bump allocator: arrays live as long as the backend.
 */
import type { AvgPool2DGeometry, Conv2DGeometry, Kernels, Pool2DGeometry } from '../kernels.js';
import { webAssembly, type WasmMemory } from './api.js';
import { WasmKernelsError, bestWasmVariant, loadWasmModule, type WasmVariant } from './loader.js';

/** A Conv2DGeometry as the conv exports take it, in assembly/conv.ts's parameter order (integers). */
type Conv2DArguments = [
  batch: number, inChannels: number, inHeight: number, inWidth: number, outChannels: number, outHeight: number, outWidth: number,
  kernelHeight: number, kernelWidth: number, strideY: number, strideX: number, padTop: number, padLeft: number,
];

/** A Pool2DGeometry as the pooling exports take it, in assembly/ops.ts's parameter order (integers). */
type Pool2DArguments = [
  batch: number, channels: number, inHeight: number, inWidth: number, outHeight: number, outWidth: number,
  poolHeight: number, poolWidth: number, strideY: number, strideX: number,
];

/** The module's exports (assembly/index.ts); addresses are byte offsets into the backend's memory. */
interface KernelExports {
  heapBase(): number;
  gemmWorkspaceBytes(): number;
  gemmInit(workspace: number): void;
  gemm(m: number, n: number, k: number, a: number, aRow: number, aCol: number, b: number, bRow: number, bCol: number, c: number, cRow: number, cCol: number, accumulate: number): void;
  conv2dForward(...args: [...Conv2DArguments, input: number, weight: number, bias: number, output: number, columns: number]): void;
  conv2dBackwardFilter(...args: [...Conv2DArguments, input: number, dOutput: number, dWeight: number, dBias: number, columns: number]): void;
  conv2dBackwardInput(...args: [...Conv2DArguments, weight: number, dOutput: number, dInput: number, columns: number]): void;
  maxPool2dForward(...args: [...Pool2DArguments, input: number, output: number]): void;
  maxPool2dBackward(...args: [...Pool2DArguments, input: number, output: number, dOutput: number, dInput: number]): void;
  avgPool2dForward(...args: [...Pool2DArguments, padTop: number, padLeft: number, input: number, output: number]): void;
  avgPool2dBackward(...args: [...Pool2DArguments, padTop: number, padLeft: number, dOutput: number, dInput: number]): void;
  denseForward(batch: number, inFeatures: number, outFeatures: number, input: number, weight: number, bias: number, output: number): void;
  denseBackward(batch: number, inFeatures: number, outFeatures: number, input: number, weight: number, dOutput: number, dWeight: number, dBias: number, dInput: number): void;
  reluForward(length: number, input: number, output: number): void;
  reluBackward(length: number, output: number, dOutput: number, dInput: number): void;
  multiply(length: number, a: number, b: number, output: number): void;
  scale(length: number, x: number, factor: number): void;
  softmaxCrossEntropy(batch: number, classes: number, logits: number, labels: number, probabilities: number, dLogits: number, gradientScale: number, result: number): void;
  sgdUpdate(length: number, params: number, grads: number, velocity: number, learningRate: number, momentum: number, nesterov: number): void;
  adadeltaUpdate(length: number, params: number, grads: number, accumulatedGrad: number, accumulatedDelta: number, learningRate: number, rho: number, epsilon: number): void;
  adamUpdate(length: number, params: number, grads: number, m: number, v: number, learningRate: number, beta1: number, beta2: number, epsilon: number, step: number): void;
}

export interface WasmKernelsOptions {
  /** 'auto' (default): relaxed SIMD when the engine accepts it, else plain SIMD. */
  readonly variant?: WasmVariant | 'auto';
  /** Size of the linear memory in bytes (address space; only touched pages become resident). Default 1 GiB. */
  readonly memoryBytes?: number;
}

const PAGE = 65536;
const ALIGN = 64; // one cache line, so SIMD loads of an array never straddle lines at its start
const DEFAULT_MEMORY_BYTES = 1 << 30;
/** Bytes never handed out at the end of memory: vector kernels may read (and mask off) a few floats past an array. */
const TAIL_GUARD = 64;

export function createWasmKernels(options: WasmKernelsOptions = {}): WasmKernels {
  const requested = options.variant ?? 'auto';
  const variant = requested === 'auto' ? bestWasmVariant() : requested;
  const module = variant === null ? null : loadWasmModule(variant);
  if (variant === null || module === null) {
    throw new WasmKernelsError('WASM_UNSUPPORTED', `this JavaScript engine cannot run the ${requested === 'auto' ? 'SIMD' : requested} WebAssembly kernels`);
  }
  const memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY_BYTES;
  if (!Number.isInteger(memoryBytes) || memoryBytes < PAGE || memoryBytes > 4 * 1024 * PAGE * 1024 - PAGE) {
    throw new WasmKernelsError('BAD_ARGUMENT', `memoryBytes must be an integer between 64 KiB and 4 GiB, got ${memoryBytes}`);
  }
  const pages = Math.ceil(memoryBytes / PAGE);
  const memory = new webAssembly.Memory({ initial: pages, maximum: pages });
  const instance = new webAssembly.Instance(module, { env: { memory } });
  return new WasmKernels(variant, memory, instance.exports as unknown as KernelExports);
}

function align(offset: number): number {
  return Math.ceil(offset / ALIGN) * ALIGN;
}

export class WasmKernels implements Kernels<Float32Array> {
  readonly name = 'wasm' as const;
  readonly description: string;
  private readonly buffer: ArrayBuffer;
  private next: number;

  constructor(
    readonly variant: WasmVariant,
    memory: WasmMemory,
    private readonly wasm: KernelExports,
  ) {
    this.description = variant === 'relaxed' ? 'wasm (relaxed SIMD, fused multiply-add)' : 'wasm (SIMD)';
    this.buffer = memory.buffer;
    this.next = align(wasm.heapBase());
    const workspace = this.reserve(wasm.gemmWorkspaceBytes());
    wasm.gemmInit(workspace);
  }

  private reserve(bytes: number): number {
    const offset = this.next;
    if (offset + bytes > this.buffer.byteLength - TAIL_GUARD) {
      throw new WasmKernelsError(
        'OUT_OF_MEMORY',
        `wasm kernels: cannot allocate ${bytes} bytes, ${this.buffer.byteLength - offset} of ${this.buffer.byteLength} left (create the backend with a larger memoryBytes)`,
      );
    }
    this.next = align(offset + bytes);
    return offset;
  }

  allocate(length: number): Float32Array {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`allocate: length must be a non-negative integer, got ${length}`);
    return new Float32Array(this.buffer, this.reserve(length * 4), length);
  }

  /** Byte address of `array` in this backend's memory, after checking it is ours and long enough. */
  private address(array: Float32Array, needed: number, what: string): number {
    if (array.buffer !== this.buffer) {
      throw new WasmKernelsError('FOREIGN_ARRAY', `wasm kernels: '${what}' is not in this backend's memory; allocate it with kernels.allocate()`);
    }
    if (array.length < needed) {
      throw new WasmKernelsError('ARRAY_TOO_SHORT', `wasm kernels: '${what}' has ${array.length} elements, needs ${needed}`);
    }
    return array.byteOffset;
  }

  conv2dScratchLength(g: Conv2DGeometry): number {
    return g.inChannels * g.kernelHeight * g.kernelWidth * g.outHeight * g.outWidth;
  }

  conv2dForward(g: Conv2DGeometry, input: Float32Array, weight: Float32Array, bias: Float32Array, output: Float32Array, scratch: Float32Array, relu = false): void {
    this.wasm.conv2dForward(
      g.batch, g.inChannels, g.inHeight, g.inWidth, g.outChannels, g.outHeight, g.outWidth,
      g.kernelHeight, g.kernelWidth, g.strideY, g.strideX, g.padTop, g.padLeft,
      this.address(input, inputSize(g), 'input'),
      this.address(weight, weightSize(g), 'weight'),
      this.address(bias, g.outChannels, 'bias'),
      this.address(output, outputSize(g), 'output'),
      this.address(scratch, this.conv2dScratchLength(g), 'scratch'),
    );
    // A separate in-place pass: the wasm conv writes whole batches, so there is no cache-warm epilogue to fold it into.
    if (relu) this.reluForward(outputSize(g), output, output);
  }

  conv2dBackwardFilter(g: Conv2DGeometry, input: Float32Array, dOutput: Float32Array, dWeight: Float32Array, dBias: Float32Array, scratch: Float32Array): void {
    this.wasm.conv2dBackwardFilter(
      g.batch, g.inChannels, g.inHeight, g.inWidth, g.outChannels, g.outHeight, g.outWidth,
      g.kernelHeight, g.kernelWidth, g.strideY, g.strideX, g.padTop, g.padLeft,
      this.address(input, inputSize(g), 'input'),
      this.address(dOutput, outputSize(g), 'dOutput'),
      this.address(dWeight, weightSize(g), 'dWeight'),
      this.address(dBias, g.outChannels, 'dBias'),
      this.address(scratch, this.conv2dScratchLength(g), 'scratch'),
    );
  }

  conv2dBackwardInput(g: Conv2DGeometry, weight: Float32Array, dOutput: Float32Array, dInput: Float32Array, scratch: Float32Array): void {
    this.wasm.conv2dBackwardInput(
      g.batch, g.inChannels, g.inHeight, g.inWidth, g.outChannels, g.outHeight, g.outWidth,
      g.kernelHeight, g.kernelWidth, g.strideY, g.strideX, g.padTop, g.padLeft,
      this.address(weight, weightSize(g), 'weight'),
      this.address(dOutput, outputSize(g), 'dOutput'),
      this.address(dInput, inputSize(g), 'dInput'),
      this.address(scratch, this.conv2dScratchLength(g), 'scratch'),
    );
  }

  maxPool2dForward(g: Pool2DGeometry, input: Float32Array, output: Float32Array): void {
    const planes = g.batch * g.channels;
    this.wasm.maxPool2dForward(
      g.batch, g.channels, g.inHeight, g.inWidth, g.outHeight, g.outWidth, g.poolHeight, g.poolWidth, g.strideY, g.strideX,
      this.address(input, planes * g.inHeight * g.inWidth, 'input'),
      this.address(output, planes * g.outHeight * g.outWidth, 'output'),
    );
  }

  maxPool2dBackward(g: Pool2DGeometry, input: Float32Array, output: Float32Array, dOutput: Float32Array, dInput: Float32Array): void {
    const planes = g.batch * g.channels;
    const inSize = planes * g.inHeight * g.inWidth;
    const outSize = planes * g.outHeight * g.outWidth;
    this.wasm.maxPool2dBackward(
      g.batch, g.channels, g.inHeight, g.inWidth, g.outHeight, g.outWidth, g.poolHeight, g.poolWidth, g.strideY, g.strideX,
      this.address(input, inSize, 'input'),
      this.address(output, outSize, 'output'),
      this.address(dOutput, outSize, 'dOutput'),
      this.address(dInput, inSize, 'dInput'),
    );
  }

  avgPool2dForward(g: AvgPool2DGeometry, input: Float32Array, output: Float32Array): void {
    const planes = g.batch * g.channels;
    this.wasm.avgPool2dForward(
      g.batch, g.channels, g.inHeight, g.inWidth, g.outHeight, g.outWidth, g.poolHeight, g.poolWidth, g.strideY, g.strideX, g.padTop, g.padLeft,
      this.address(input, planes * g.inHeight * g.inWidth, 'input'),
      this.address(output, planes * g.outHeight * g.outWidth, 'output'),
    );
  }

  avgPool2dBackward(g: AvgPool2DGeometry, dOutput: Float32Array, dInput: Float32Array): void {
    const planes = g.batch * g.channels;
    this.wasm.avgPool2dBackward(
      g.batch, g.channels, g.inHeight, g.inWidth, g.outHeight, g.outWidth, g.poolHeight, g.poolWidth, g.strideY, g.strideX, g.padTop, g.padLeft,
      this.address(dOutput, planes * g.outHeight * g.outWidth, 'dOutput'),
      this.address(dInput, planes * g.inHeight * g.inWidth, 'dInput'),
    );
  }

  denseForward(batch: number, inFeatures: number, outFeatures: number, input: Float32Array, weight: Float32Array, bias: Float32Array, output: Float32Array): void {
    this.wasm.denseForward(
      batch,
      inFeatures,
      outFeatures,
      this.address(input, batch * inFeatures, 'input'),
      this.address(weight, outFeatures * inFeatures, 'weight'),
      this.address(bias, outFeatures, 'bias'),
      this.address(output, batch * outFeatures, 'output'),
    );
  }

  denseBackward(
    batch: number,
    inFeatures: number,
    outFeatures: number,
    input: Float32Array,
    weight: Float32Array,
    dOutput: Float32Array,
    dWeight: Float32Array,
    dBias: Float32Array,
    dInput: Float32Array | null,
  ): void {
    this.wasm.denseBackward(
      batch,
      inFeatures,
      outFeatures,
      this.address(input, batch * inFeatures, 'input'),
      this.address(weight, outFeatures * inFeatures, 'weight'),
      this.address(dOutput, batch * outFeatures, 'dOutput'),
      this.address(dWeight, outFeatures * inFeatures, 'dWeight'),
      this.address(dBias, outFeatures, 'dBias'),
      // Address 0 means "no dInput": the allocator never hands out offset 0 (heapBase > 0).
      dInput === null ? 0 : this.address(dInput, batch * inFeatures, 'dInput'),
    );
  }

  reluForward(length: number, input: Float32Array, output: Float32Array): void {
    this.wasm.reluForward(length, this.address(input, length, 'input'), this.address(output, length, 'output'));
  }

  reluBackward(length: number, output: Float32Array, dOutput: Float32Array, dInput: Float32Array): void {
    this.wasm.reluBackward(length, this.address(output, length, 'output'), this.address(dOutput, length, 'dOutput'), this.address(dInput, length, 'dInput'));
  }

  multiply(length: number, a: Float32Array, b: Float32Array, output: Float32Array): void {
    this.wasm.multiply(length, this.address(a, length, 'a'), this.address(b, length, 'b'), this.address(output, length, 'output'));
  }

  softmaxCrossEntropy(
    batch: number,
    classes: number,
    logits: Float32Array,
    labels: Float32Array,
    probabilities: Float32Array,
    dLogits: Float32Array,
    gradientScale: number,
    result: Float32Array,
  ): void {
    const size = batch * classes;
    this.wasm.softmaxCrossEntropy(
      batch,
      classes,
      this.address(logits, size, 'logits'),
      this.address(labels, batch, 'labels'),
      this.address(probabilities, size, 'probabilities'),
      this.address(dLogits, size, 'dLogits'),
      gradientScale,
      this.address(result, 2, 'result'),
    );
  }

  scale(length: number, x: Float32Array, factor: number): void {
    this.wasm.scale(length, this.address(x, length, 'x'), factor);
  }

  sgdUpdate(length: number, params: Float32Array, grads: Float32Array, velocity: Float32Array, learningRate: number, momentum: number, nesterov: boolean): void {
    this.wasm.sgdUpdate(
      length,
      this.address(params, length, 'params'),
      this.address(grads, length, 'grads'),
      this.address(velocity, length, 'velocity'),
      learningRate,
      momentum,
      nesterov ? 1 : 0,
    );
  }

  adadeltaUpdate(
    length: number,
    params: Float32Array,
    grads: Float32Array,
    accumulatedGrad: Float32Array,
    accumulatedDelta: Float32Array,
    learningRate: number,
    rho: number,
    epsilon: number,
  ): void {
    this.wasm.adadeltaUpdate(
      length,
      this.address(params, length, 'params'),
      this.address(grads, length, 'grads'),
      this.address(accumulatedGrad, length, 'accumulatedGrad'),
      this.address(accumulatedDelta, length, 'accumulatedDelta'),
      learningRate,
      rho,
      epsilon,
    );
  }

  adamUpdate(
    length: number,
    params: Float32Array,
    grads: Float32Array,
    m: Float32Array,
    v: Float32Array,
    learningRate: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    step: number,
  ): void {
    this.wasm.adamUpdate(
      length,
      this.address(params, length, 'params'),
      this.address(grads, length, 'grads'),
      this.address(m, length, 'm'),
      this.address(v, length, 'v'),
      learningRate,
      beta1,
      beta2,
      epsilon,
      step,
    );
  }

  /** C[m,n] (+)= A[m,k] B[k,n], all row-major (for benchmarks and tests of the GEMM itself). */
  matmul(m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, accumulate = false): void {
    this.wasm.gemm(m, n, k, this.address(a, m * k, 'a'), k, 1, this.address(b, k * n, 'b'), n, 1, this.address(c, m * n, 'c'), n, 1, accumulate ? 1 : 0);
  }
}

// Element counts of the conv operands (plain functions: a binding call allocates nothing).
function inputSize(g: Conv2DGeometry): number {
  return g.batch * g.inChannels * g.inHeight * g.inWidth;
}

function weightSize(g: Conv2DGeometry): number {
  return g.outChannels * g.inChannels * g.kernelHeight * g.kernelWidth;
}

function outputSize(g: Conv2DGeometry): number {
  return g.batch * g.outChannels * g.outHeight * g.outWidth;
}
