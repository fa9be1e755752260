/**
 * A model is described by a JSON-serialisable spec: an input shape and a list of layers.
 * Keras-style `activation` on conv2d/dense expands into a separate ReLU layer; a final
 * dense layer with `activation: 'softmax'` is fused with categorical cross-entropy.
 */

export type Pair = number | readonly [number, number];

export interface Conv2DSpec {
  readonly type: 'conv2d';
  readonly filters: number;
  readonly kernelSize: Pair;
  /** Default 1. */
  readonly stride?: Pair;
  /** Default 'valid'. 'same' pads so that out = ceil(in / stride), extra padding bottom/right (TensorFlow's rule). */
  readonly padding?: 'valid' | 'same';
  /** Default 'linear'. */
  readonly activation?: 'relu' | 'linear';
}

export interface MaxPool2DSpec {
  readonly type: 'maxpool2d';
  readonly poolSize: Pair;
  /** Default: poolSize (Keras's default). */
  readonly stride?: Pair;
}

export interface AvgPool2DSpec {
  readonly type: 'avgpool2d';
  readonly poolSize: Pair;
  /** Default: poolSize (Keras's default). */
  readonly stride?: Pair;
  /**
   * Default 'valid'. 'same' pads so that out = ceil(in / stride), extra padding bottom/right
   * (TensorFlow's rule); the padded cells are left out of each window's mean (Keras's
   * AveragePooling2D, ONNX AveragePool with count_include_pad 0).
   */
  readonly padding?: 'valid' | 'same';
}

export interface DenseSpec {
  readonly type: 'dense';
  readonly units: number;
  /** Default 'linear'. 'softmax' is allowed on the last layer only, where it is fused with the loss. */
  readonly activation?: 'relu' | 'linear' | 'softmax';
}

export interface ReluSpec {
  readonly type: 'relu';
}

export interface DropoutSpec {
  readonly type: 'dropout';
  /** Fraction of activations dropped while training, in [0, 1). */
  readonly rate: number;
}

export interface FlattenSpec {
  readonly type: 'flatten';
}

export type LayerSpec = Conv2DSpec | MaxPool2DSpec | AvgPool2DSpec | DenseSpec | ReluSpec | DropoutSpec | FlattenSpec;

export interface ModelSpec {
  /** [channels, height, width] of one input image (NCHW without N). */
  readonly input: readonly [number, number, number];
  readonly layers: readonly LayerSpec[];
}

/**
 * The seed project's Keras pipeline, Convoy's default:
 * Conv2D(32,3x3,relu) -> Conv2D(64,3x3,relu) -> MaxPool(2x2) -> Flatten -> Dense(128,relu) -> Dense(10,softmax).
 * 1,199,882 parameters.
 */
export const MNIST_CNN: ModelSpec = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', filters: 32, kernelSize: 3, activation: 'relu' },
    { type: 'conv2d', filters: 64, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 128, activation: 'relu' },
    { type: 'dense', units: 10, activation: 'softmax' },
  ],
};

/**
 * MNIST_CNN with Dropout where Keras's classic mnist_cnn example puts it
 * (0.25 after the pooling, 0.5 after the hidden dense layer). Same parameters.
 */
export const MNIST_CNN_DROPOUT: ModelSpec = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', filters: 32, kernelSize: 3, activation: 'relu' },
    { type: 'conv2d', filters: 64, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'dropout', rate: 0.25 },
    { type: 'flatten' },
    { type: 'dense', units: 128, activation: 'relu' },
    { type: 'dropout', rate: 0.5 },
    { type: 'dense', units: 10, activation: 'softmax' },
  ],
};
