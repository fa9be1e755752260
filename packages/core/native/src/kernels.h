// The native backend's kernels, one function per method of the Kernels interface
// (packages/core/src/kernels/kernels.ts, whose doc comments are the contract; the
// TypeScript reference kernels are the specification). Pointers are to float32 arrays
// whose lengths the binding (addon.cc) has checked.
#pragma once

struct ConvGeometry {
  int batch, inChannels, inHeight, inWidth, outChannels, outHeight, outWidth;
  int kernelHeight, kernelWidth, strideY, strideX, padTop, padLeft;
  long inputSize() const { return static_cast<long>(batch) * inChannels * inHeight * inWidth; }
  long outputSize() const { return static_cast<long>(batch) * outChannels * outHeight * outWidth; }
  long weightSize() const { return static_cast<long>(outChannels) * inChannels * kernelHeight * kernelWidth; }
  /** im2col columns of one image: [inChannels*kernelHeight*kernelWidth, outHeight*outWidth]. */
  long scratchSize() const { return static_cast<long>(inChannels) * kernelHeight * kernelWidth * outHeight * outWidth; }
};

/**
 * col2im as a gather (stride 1, no padding): the column rows of one channel (`channelColumns`,
 * `positions` = outHeight*outWidth floats a row) that read image row `inY`. Column row (i, j)
 * at output row y = inY - i holds image column s at s - j: writes each row's start and its
 * shift j, and returns how many (at most kernelHeight*kernelWidth).
 */
inline int gatherRows(const ConvGeometry& g, const float* channelColumns, long positions, int inY, const float** rows, int* shifts) {
  int count = 0;
  for (int i = 0; i < g.kernelHeight; i++) {
    const int y = inY - i;
    if (y < 0 || y >= g.outHeight) continue;
    for (int j = 0; j < g.kernelWidth; j++) {
      rows[count] = channelColumns + (i * g.kernelWidth + j) * positions + static_cast<long>(y) * g.outWidth;
      shifts[count++] = j;
    }
  }
  return count;
}

struct PoolGeometry {
  int batch, channels, inHeight, inWidth, outHeight, outWidth, poolHeight, poolWidth, strideY, strideX;
  int padTop, padLeft;  // average pooling only ('same'); 0 for max pooling
  long inputSize() const { return static_cast<long>(batch) * channels * inHeight * inWidth; }
  long outputSize() const { return static_cast<long>(batch) * channels * outHeight * outWidth; }
};

/** With `relu`, output = max(0, conv) bit for bit as reluForward after it (the fused conv + ReLU of the model). */
void conv2dForward(const ConvGeometry& g, const float* input, const float* weight, const float* bias, float* output, float* columns, bool relu);
void conv2dBackwardFilter(const ConvGeometry& g, const float* input, const float* dOutput, float* dWeight, float* dBias, float* columns);
void conv2dBackwardInput(const ConvGeometry& g, const float* weight, const float* dOutput, float* dInput, float* columns);

void maxPool2dForward(const PoolGeometry& g, const float* input, float* output);
void maxPool2dBackward(const PoolGeometry& g, const float* input, const float* output, const float* dOutput, float* dInput);
void avgPool2dForward(const PoolGeometry& g, const float* input, float* output);
void avgPool2dBackward(const PoolGeometry& g, const float* dOutput, float* dInput);

void denseForward(int batch, int inFeatures, int outFeatures, const float* input, const float* weight, const float* bias, float* output);
void denseBackward(int batch, int inFeatures, int outFeatures, const float* input, const float* weight, const float* dOutput, float* dWeight,
                   float* dBias, float* dInput /* may be null */);

void reluForward(long length, const float* input, float* output);
void reluBackward(long length, const float* output, const float* dOutput, float* dInput);
void multiply(long length, const float* a, const float* b, float* output);
void scale(long length, float* x, float factor);
void softmaxCrossEntropy(int batch, int classes, const float* logits, const float* labels, float* probabilities, float* dLogits,
                         double gradientScale, float* result);

void sgdUpdate(long length, float* params, const float* grads, float* velocity, float learningRate, float momentum, bool nesterov);
void adadeltaUpdate(long length, float* params, const float* grads, float* accumulatedGrad, float* accumulatedDelta, double learningRate,
                    double rho, double epsilon);
void adamUpdate(long length, float* params, const float* grads, float* m, float* v, double learningRate, double beta1, double beta2,
                double epsilon, double step);
