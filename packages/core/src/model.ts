/**
 * The model: a validated list of layers (layers/build.ts) over one flat parameter array,
 * run chunk by chunk so that memory does not grow with the batch.
 *
 * Memory is allocated once, in createModel: parameters and gradient (DESIGN.md layout,
 * layer by layer, weight then bias), and one activation and one activation-gradient
 * buffer per layer sized for `chunkSize` images. A training step allocates nothing but
 * its small result object (and one Rng per image while dropout is active).
 */
import type { CreateModelOptions, Evaluation, ForwardOptions, LayerInfo, Model } from './api.js';
import type { FloatArray, Kernels } from './kernels/kernels.js';
import { defaultKernels } from './kernels/select.js';
import { buildLayers } from './layers/build.js';
import { Conv2DLayer } from './layers/conv2d.js';
import type { ForwardContext, Layer } from './layers/layer.js';
import { SoftmaxCrossEntropy } from './layers/softmax-cross-entropy.js';
import { DROPOUT_STREAM, Rng, mixSeed } from './rng.js';
import { formatShape, shapeSize } from './shapes.js';
import { MNIST_CNN, type ModelSpec } from './spec.js';

/** Images, labels or options that do not match the model. */
export class ModelInputError extends Error {
  readonly code = 'BAD_INPUT';
  override readonly name = 'ModelInputError';
}

/** Options of a model over any kernel precision (the float64 reference is used for gradient checks). */
export interface NetworkOptions<A extends FloatArray> extends Omit<CreateModelOptions, 'kernels' | 'params'> {
  readonly kernels: Kernels<A>;
  readonly params?: A;
  /** Also compute dLoss/dImages (see Network.inputGradient). Default false. */
  readonly inputGradient?: boolean;
}

/** A Model over any kernel precision; images may be float32 or float64 whatever the kernels. */
export interface Network<A extends FloatArray> extends Omit<Model, 'kernels' | 'params' | 'lossAndGradient' | 'gradientSum' | 'predict' | 'evaluate'> {
  readonly kernels: Kernels<A>;
  readonly params: A;
  readonly chunkSize: number;
  predict(images: FloatArray): Float32Array;
  evaluate(images: FloatArray, labels: Uint8Array): Evaluation;
  lossAndGradient(images: FloatArray, labels: Uint8Array, options?: ForwardOptions): { loss: number; correct: number; gradient: A };
  gradientSum(images: FloatArray, labels: Uint8Array, options?: ForwardOptions): { count: number; lossSum: number; correct: number; gradient: A };
  /**
   * dLoss/dImages of the last chunk of the last gradient call ([chunk images, C, H, W]),
   * with the same scaling as its gradient; null unless created with `inputGradient: true`.
   */
  readonly inputGradient: A | null;
}

// NOTE: 32, not 64: larger chunks do not run faster with the wasm kernels, and each doubling
// adds its activations to a worker's resident memory, which must stay under 200 MB (bench/rss.ts).
const DEFAULT_CHUNK_SIZE = 32;

export function createModel(spec: ModelSpec = MNIST_CNN, options: CreateModelOptions = {}): Model {
  return createNetwork(spec, { ...options, kernels: options.kernels ?? defaultKernels() });
}

export function createNetwork<A extends FloatArray>(spec: ModelSpec, options: NetworkOptions<A>): Network<A> {
  return new SequentialNetwork(spec, options);
}

class SequentialNetwork<A extends FloatArray> implements Network<A> {
  readonly spec: ModelSpec;
  readonly kernels: Kernels<A>;
  readonly inputShape: readonly [number, number, number];
  readonly classes: number;
  readonly paramCount: number;
  readonly layers: readonly LayerInfo[];
  readonly params: A;
  readonly chunkSize: number;
  readonly inputGradient: A | null;

  private readonly network: readonly Layer<A>[];
  /**
   * convBeforeRelu[l]: layer l, when it is a conv2d followed by a relu layer. Its forward
   * then writes max(0, conv) straight into the relu's output and the relu's forward is
   * skipped (one pass over the output instead of three). The conv's output buffer and the
   * relu's are then one: nothing reads the conv's pre-activation output (its backward reads
   * its input and dOutput, the relu's backward its output and dOutput).
   */
  private readonly convBeforeRelu: readonly (Conv2DLayer<A> | undefined)[];
  private readonly gradient: A;
  /** activations[0] is the input chunk, activations[l + 1] the output of layer l. */
  private readonly activations: A[];
  /** dActivations[l] = dLoss/dActivations[l]; dActivations[0] is null unless inputGradient. */
  private readonly dActivations: (A | null)[];
  private readonly loss: SoftmaxCrossEntropy<A>;
  private readonly imageSize: number;
  private readonly hasDropout: boolean;
  private readonly dropoutSeedRng: Rng;
  private readonly imageRngs: Rng[] = [];

  constructor(spec: ModelSpec, options: NetworkOptions<A>) {
    const built = buildLayers<A>(spec);
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ModelInputError(`model seed must be an integer in [0, 2^32), got ${seed}`);
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new ModelInputError(`model chunkSize must be a positive integer, got ${chunkSize}`);

    this.spec = spec;
    this.kernels = options.kernels;
    this.inputShape = built.inputShape;
    this.classes = built.classes;
    this.paramCount = built.paramCount;
    this.chunkSize = chunkSize;
    this.network = built.layers;
    this.convBeforeRelu = built.layers.map((layer, l) => (layer instanceof Conv2DLayer && built.layers[l + 1]?.type === 'relu' ? layer : undefined));
    this.imageSize = shapeSize(built.inputShape);
    this.hasDropout = built.layers.some((layer) => layer.type === 'dropout');
    this.dropoutSeedRng = new Rng(mixSeed(seed, DROPOUT_STREAM));

    const kernels = options.kernels;
    if (options.params !== undefined && options.params.length !== this.paramCount) {
      throw new ModelInputError(`model params: an array of ${options.params.length} floats for ${this.paramCount} parameters`);
    }
    if (options.params !== undefined && kernels.name === 'wasm') throw new ModelInputError('model params: the wasm kernels read only arrays they allocated');
    this.params = options.params ?? kernels.allocate(this.paramCount);
    this.gradient = kernels.allocate(this.paramCount);
    const initRng = new Rng(seed);
    const infos: LayerInfo[] = [];
    let offset = 0;
    for (const [index, layer] of built.layers.entries()) {
      const end = offset + layer.paramCount;
      layer.attach(kernels, this.params.subarray(offset, end) as A, this.gradient.subarray(offset, end) as A, chunkSize);
      layer.initialize(initRng); // in parameter order, so one seed gives one set of weights everywhere
      infos.push({ name: `${layer.type}_${index + 1}`, type: layer.type, outputShape: layer.outputShape, paramOffset: offset, paramCount: layer.paramCount });
      offset = end;
    }
    this.layers = infos;

    this.inputGradient = options.inputGradient === true ? kernels.allocate(chunkSize * this.imageSize) : null;
    this.activations = [kernels.allocate(chunkSize * this.imageSize)];
    this.dActivations = [this.inputGradient];
    for (const [l, layer] of built.layers.entries()) {
      // NOTE: Flatten's output is its input, so it shares both buffers with the layer before;
      // a ReLU run inside the conv before it (convBeforeRelu) shares that conv's output buffer.
      const size = chunkSize * shapeSize(layer.outputShape);
      const fusedRelu = l > 0 && this.convBeforeRelu[l - 1] !== undefined;
      this.activations.push(layer.aliasesInput || fusedRelu ? this.activations[this.activations.length - 1]! : kernels.allocate(size));
      this.dActivations.push(layer.aliasesInput ? this.dActivations[this.dActivations.length - 1]! : kernels.allocate(size));
    }
    this.loss = new SoftmaxCrossEntropy(kernels, this.classes, chunkSize);
  }

  gradientSum(images: FloatArray, labels: Uint8Array, options: ForwardOptions = {}): { count: number; lossSum: number; correct: number; gradient: A } {
    const { lossSum, correct } = this.run(images, labels, options, 'sum');
    return { count: labels.length, lossSum, correct, gradient: this.gradient };
  }

  lossAndGradient(images: FloatArray, labels: Uint8Array, options: ForwardOptions = {}): { loss: number; correct: number; gradient: A } {
    const { lossSum, correct } = this.run(images, labels, options, 'mean');
    return { loss: labels.length === 0 ? 0 : lossSum / labels.length, correct, gradient: this.gradient };
  }

  evaluate(images: FloatArray, labels: Uint8Array): Evaluation {
    const { lossSum, correct } = this.run(images, labels, {}, 'none');
    return { count: labels.length, lossSum, correct };
  }

  predict(images: FloatArray): Float32Array {
    const count = this.checkImages(images, images.length / this.imageSize);
    const probabilities = new Float32Array(count * this.classes);
    const noLabels = new Uint8Array(count); // the loss is computed against label 0 and ignored
    this.forEachChunk(images, noLabels, {}, 'none', (start, batch) => {
      probabilities.set(this.loss.probabilities.subarray(0, batch * this.classes), start * this.classes);
    });
    return probabilities;
  }

  /**
   * Forward (and backward unless mode is 'none') over all images, chunk by chunk. The
   * parameter gradient is zeroed first and accumulates over the chunks; 'mean' scales the
   * loss gradient by 1/N so the result is the mean gradient without another pass.
   */
  private run(images: FloatArray, labels: Uint8Array, options: ForwardOptions, mode: 'sum' | 'mean' | 'none'): { lossSum: number; correct: number } {
    this.checkImages(images, labels.length);
    if (mode !== 'none') this.gradient.fill(0);
    let lossSum = 0;
    let correct = 0;
    this.forEachChunk(images, labels, options, mode, (_start, _batch, result) => {
      lossSum += result.lossSum;
      correct += result.correct;
    });
    return { lossSum, correct };
  }

  private forEachChunk(
    images: FloatArray,
    labels: Uint8Array,
    options: ForwardOptions,
    mode: 'sum' | 'mean' | 'none',
    visit: (start: number, batch: number, result: { lossSum: number; correct: number }) => void,
  ): void {
    const count = labels.length;
    const training = options.training === true;
    const seeds = options.dropoutSeeds;
    if (seeds !== undefined && seeds.length !== count) throw new ModelInputError(`dropoutSeeds has ${seeds.length} seeds for ${count} images`);
    const gradientScale = mode === 'mean' ? 1 / count : 1;
    const context: ForwardContext = { training, imageRngs: this.imageRngs };
    const last = this.network.length;
    for (let start = 0; start < count; start += this.chunkSize) {
      const batch = Math.min(this.chunkSize, count - start);
      this.activations[0]!.set(images.subarray(start * this.imageSize, (start + batch) * this.imageSize));
      this.setLabels(labels, start, batch);
      if (training && this.hasDropout) {
        for (let i = 0; i < batch; i++) this.imageRngs[i] = new Rng(seeds === undefined ? this.dropoutSeedRng.nextUint32() : seeds[start + i]!);
      }
      for (let l = 0; l < last; l++) {
        const conv = this.convBeforeRelu[l];
        if (conv === undefined) {
          this.network[l]!.forward(batch, this.activations[l]!, this.activations[l + 1]!, context);
        } else {
          conv.forward(batch, this.activations[l]!, this.activations[l + 2]!, context, true);
          l++; // the relu layer's forward is done
        }
      }
      const result = this.loss.forwardBackward(batch, this.activations[last]!, this.dActivations[last]!, gradientScale);
      if (mode !== 'none') {
        for (let l = last - 1; l >= 0; l--) {
          this.network[l]!.backward(batch, this.activations[l]!, this.activations[l + 1]!, this.dActivations[l + 1]!, this.dActivations[l]!);
        }
      }
      visit(start, batch, result);
    }
  }

  private setLabels(labels: Uint8Array, start: number, batch: number): void {
    for (let i = 0; i < batch; i++) {
      const label = labels[start + i]!;
      if (label >= this.classes) throw new ModelInputError(`label ${label} of image ${start + i} is not a class of this model (0..${this.classes - 1})`);
      this.loss.labels[i] = label;
    }
  }

  /** Returns the image count; throws unless images hold exactly `count` images of inputShape. */
  private checkImages(images: FloatArray, count: number): number {
    if (!Number.isInteger(count) || images.length !== count * this.imageSize) {
      throw new ModelInputError(`images hold ${images.length} floats, expected ${Number.isInteger(count) ? count : 'N'} x ${formatShape(this.inputShape)} = ${Number.isInteger(count) ? count * this.imageSize : `N*${this.imageSize}`}`);
    }
    return count;
  }
}

/** A Keras-like summary: one row per layer with its output shape and parameter count. */
export function describeModel(model: Pick<Model, 'layers' | 'paramCount' | 'inputShape'>): string {
  const rows = [['Layer (type)', 'Output shape', 'Params'], ['input', formatShape(model.inputShape), '0']];
  for (const layer of model.layers) rows.push([layer.name, formatShape(layer.outputShape), layer.paramCount.toLocaleString('en-US')]);
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]): string => `${row[0]!.padEnd(widths[0]!)}  ${row[1]!.padEnd(widths[1]!)}  ${row[2]!.padStart(widths[2]!)}`;
  const rule = '-'.repeat(widths[0]! + widths[1]! + widths[2]! + 4);
  return [line(rows[0]!), rule, ...rows.slice(1).map(line), rule, `Total params: ${model.paramCount.toLocaleString('en-US')}`].join('\n');
}
