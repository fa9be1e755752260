// The non-convolution kernels: dense (through the GEMM), pooling, elementwise maps, softmax
// cross-entropy and the optimizer updates, with the TypeScript reference's semantics. The
// elementwise loops are left to the compiler's vectorizer (-O3 -march=native).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "simd.h"

void denseForward(int batch, int inFeatures, int outFeatures, const float* input, const float* weight, const float* bias, float* output) {
  // As output^T = weight x input^T: the weight (4.7 MB in the default model) is then the A
  // operand, read in place by the GEMM, rather than a transposed B packed on every call.
  // NOTE: output^T is a strided C, which the GEMM stores element by element through its
  // edge tile after every depth block (36 for 9216 inputs); it goes to a contiguous
  // [outFeatures][batch] buffer instead, transposed into the output once.
  thread_local std::vector<float> transposed;
  transposed.resize(static_cast<size_t>(outFeatures) * batch);
  gemm(outFeatures, batch, inFeatures, weight, inFeatures, 1, input, 1, inFeatures, transposed.data(), batch, 1, false);
  for (int n = 0; n < batch; n++) {
    float* row = output + static_cast<long>(n) * outFeatures;
    for (int o = 0; o < outFeatures; o++) row[o] = bias[o] + transposed[static_cast<size_t>(o) * batch + n];
  }
}

void denseBackward(int batch, int inFeatures, int outFeatures, const float* input, const float* weight, const float* dOutput, float* dWeight,
                   float* dBias, float* dInput) {
  // dWeight[o, i] += sum_n dOutput[n, o] * input[n, i]
  gemm(outFeatures, inFeatures, batch, dOutput, 1, outFeatures, input, inFeatures, 1, dWeight, inFeatures, 1, true);
  for (int n = 0; n < batch; n++) {
    const float* row = dOutput + static_cast<long>(n) * outFeatures;
    for (int o = 0; o < outFeatures; o++) dBias[o] += row[o];
  }
  if (dInput == nullptr) return;
  // dInput[n, i] = sum_o dOutput[n, o] * weight[o, i]
  gemm(batch, inFeatures, outFeatures, dOutput, outFeatures, 1, weight, inFeatures, 1, dInput, inFeatures, 1, false);
}

namespace {

bool isPool2x2(const PoolGeometry& g) { return g.poolHeight == 2 && g.poolWidth == 2 && g.strideY == 2 && g.strideX == 2; }

/** The common 2x2 stride-2 pooling, window by window (rows of fewer than LANES/2 windows). */
void maxPool2x2ForwardScalar(const PoolGeometry& g, const float* input, float* output) {
  const long planes = static_cast<long>(g.batch) * g.channels;
  for (long plane = 0; plane < planes; plane++) {
    const float* inPlane = input + plane * g.inHeight * g.inWidth;
    float* outPlane = output + plane * g.outHeight * g.outWidth;
    for (int y = 0; y < g.outHeight; y++) {
      const float* row0 = inPlane + 2 * y * g.inWidth;
      const float* row1 = row0 + g.inWidth;
      float* out = outPlane + y * g.outWidth;
      for (int x = 0; x < g.outWidth; x++) {
        out[x] = std::max(std::max(row0[2 * x], row0[2 * x + 1]), std::max(row1[2 * x], row1[2 * x + 1]));
      }
    }
  }
}

/** Backward of maxPool2x2Forward: the gradient goes to the first (row-major) lane equal to the max, zeros to the other three. */
typedef int IntVec __attribute__((vector_size(LANES * 4)));
typedef float HalfVec __attribute__((vector_size(LANES * 2), aligned(4)));

#if defined(__AVX512F__)
#define CONVOY_PAIRS 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7
#define CONVOY_SWAP 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14
#define CONVOY_EVENS 0, 2, 4, 6, 8, 10, 12, 14
#else
#define CONVOY_PAIRS 0, 0, 1, 1, 2, 2, 3, 3
#define CONVOY_SWAP 1, 0, 3, 2, 5, 4, 7, 6
#define CONVOY_EVENS 0, 2, 4, 6
#endif

/**
 * LANES input columns (LANES/2 windows) of one window row pair. Each input lane compares
 * itself with its window's max (the window's lanes: this one, its pair in the same row, the
 * two below); the first lane in row-major order that equals it takes the gradient.
 */
inline void maxPool2x2BackwardLanes(const float* top, const float* bottom, const float* best, const float* gradient, float* dTop, float* dBottom) {
  const HalfVec bestHalf = *reinterpret_cast<const HalfVec*>(best);
  const HalfVec gradientHalf = *reinterpret_cast<const HalfVec*>(gradient);
  const Vec bestWide = __builtin_shufflevector(bestHalf, bestHalf, CONVOY_PAIRS);
  const Vec gradientWide = __builtin_shufflevector(gradientHalf, gradientHalf, CONVOY_PAIRS);
  IntVec odd;
  for (int lane = 0; lane < LANES; lane++) odd[lane] = -(lane & 1);
  const IntVec eqTop = load(top) == bestWide;
  const IntVec eqBottom = load(bottom) == bestWide;
  const IntVec eqTopPair = __builtin_shufflevector(eqTop, eqTop, CONVOY_SWAP);
  const IntVec eqBottomPair = __builtin_shufflevector(eqBottom, eqBottom, CONVOY_SWAP);
  const IntVec takeTop = eqTop & ~(odd & eqTopPair);
  const IntVec takeBottom = eqBottom & ~(eqTop | eqTopPair) & ~(odd & eqBottomPair);
  // Vector casts reinterpret the bits: a lane's mask (all ones or zero) selects its gradient or +0.
  const IntVec gradientBits = (IntVec)gradientWide;
  store(dTop, (Vec)(takeTop & gradientBits));
  store(dBottom, (Vec)(takeBottom & gradientBits));
}

/** std::max lane by lane (a < b ? b : a: the same result for NaN and signed zeros). */
inline Vec maxLanes(Vec a, Vec b) { return a < b ? b : a; }

/**
 * LANES input columns (LANES/2 windows) of one window row pair: each row's lane pairs'
 * max, then the two rows' (the scalar loop's order), the even lanes stored as the
 * windows' maxima. NOTE: GCC vectorized the scalar loop only across 16 or more windows a
 * row, so the default model's 12 ran one window at a time.
 */
inline void maxPool2x2ForwardLanes(const float* top, const float* bottom, float* out) {
  const Vec upper = load(top), lower = load(bottom);
  const Vec upperPairs = maxLanes(upper, __builtin_shufflevector(upper, upper, CONVOY_SWAP));
  const Vec lowerPairs = maxLanes(lower, __builtin_shufflevector(lower, lower, CONVOY_SWAP));
  const Vec windows = maxLanes(upperPairs, lowerPairs);
  *reinterpret_cast<HalfVec*>(out) = __builtin_shufflevector(windows, windows, CONVOY_EVENS);
}

#undef CONVOY_PAIRS
#undef CONVOY_SWAP
#undef CONVOY_EVENS

/** Backward of maxPool2x2Forward: the gradient goes to the first (row-major) lane equal to the max, zeros to the other three. */
void maxPool2x2Backward(const PoolGeometry& g, const float* input, const float* output, const float* dOutput, float* dInput) {
  const long planes = static_cast<long>(g.batch) * g.channels;
  // NOTE: the scalar form (a branch per window lane, arrays possibly aliased) did not
  // vectorize and cost as much as conv1 and every ReLU pass together; whole vectors of
  // windows go through maxPool2x2BackwardLanes, the rest of a row window by window.
  const int vectorWindows = g.outWidth / (LANES / 2) * (LANES / 2);
  for (long plane = 0; plane < planes; plane++) {
    const long inOffset = plane * g.inHeight * g.inWidth;
    const long outOffset = plane * g.outHeight * g.outWidth;
    for (int y = 0; y < g.outHeight; y++) {
      const float* top = input + inOffset + 2L * y * g.inWidth;
      const float* bottom = top + g.inWidth;
      const float* best = output + outOffset + static_cast<long>(y) * g.outWidth;
      const float* gradient = dOutput + outOffset + static_cast<long>(y) * g.outWidth;
      float* dTop = dInput + inOffset + 2L * y * g.inWidth;
      float* dBottom = dTop + g.inWidth;
      for (int x = 0; x < vectorWindows; x += LANES / 2) {
        maxPool2x2BackwardLanes(top + 2 * x, bottom + 2 * x, best + x, gradient + x, dTop + 2 * x, dBottom + 2 * x);
      }
      // A ragged row ends with one more vector that overlaps the last: the windows it
      // repeats write the same values again (dInput is none of the arrays it reads).
      const int last = g.outWidth - LANES / 2;
      if (vectorWindows < g.outWidth && last >= 0) {
        maxPool2x2BackwardLanes(top + 2 * last, bottom + 2 * last, best + last, gradient + last, dTop + 2 * last, dBottom + 2 * last);
        continue;
      }
      for (int x = vectorWindows; x < g.outWidth; x++) {
        const float b = best[x], d = gradient[x];
        const bool take00 = top[2 * x] == b;
        const bool take01 = !take00 && top[2 * x + 1] == b;
        const bool take10 = !take00 && !take01 && bottom[2 * x] == b;
        const bool take11 = !take00 && !take01 && !take10 && bottom[2 * x + 1] == b;
        dTop[2 * x] = take00 ? d : 0.0f;
        dTop[2 * x + 1] = take01 ? d : 0.0f;
        dBottom[2 * x] = take10 ? d : 0.0f;
        dBottom[2 * x + 1] = take11 ? d : 0.0f;
      }
    }
  }
}

/** maxPool2x2ForwardScalar by vectors of LANES/2 windows; a ragged row ends with one vector overlapping the previous one. */
void maxPool2x2Forward(const PoolGeometry& g, const float* input, float* output) {
  constexpr int WINDOWS = LANES / 2;
  if (g.outWidth < WINDOWS) {
    maxPool2x2ForwardScalar(g, input, output);
    return;
  }
  const long planes = static_cast<long>(g.batch) * g.channels;
  for (long plane = 0; plane < planes; plane++) {
    const float* inPlane = input + plane * g.inHeight * g.inWidth;
    float* outPlane = output + plane * g.outHeight * g.outWidth;
    for (int y = 0; y < g.outHeight; y++) {
      const float* top = inPlane + 2L * y * g.inWidth;
      const float* bottom = top + g.inWidth;
      float* out = outPlane + static_cast<long>(y) * g.outWidth;
      for (int x = 0;; x += WINDOWS) {
        const int start = std::min(x, g.outWidth - WINDOWS);
        maxPool2x2ForwardLanes(top + 2 * start, bottom + 2 * start, out + start);
        if (start + WINDOWS >= g.outWidth) break;
      }
    }
  }
}

}  // namespace

void maxPool2dForward(const PoolGeometry& g, const float* input, float* output) {
  if (isPool2x2(g)) {
    maxPool2x2Forward(g, input, output);
    return;
  }
  const long planes = static_cast<long>(g.batch) * g.channels;
  float* out = output;
  for (long plane = 0; plane < planes; plane++) {
    const float* inPlane = input + plane * g.inHeight * g.inWidth;
    for (int y = 0; y < g.outHeight; y++) {
      for (int x = 0; x < g.outWidth; x++) {
        float best = -std::numeric_limits<float>::infinity();
        for (int i = 0; i < g.poolHeight; i++) {
          const float* row = inPlane + (y * g.strideY + i) * g.inWidth + x * g.strideX;
          for (int j = 0; j < g.poolWidth; j++) best = std::max(best, row[j]);
        }
        *out++ = best;
      }
    }
  }
}

void maxPool2dBackward(const PoolGeometry& g, const float* input, const float* output, const float* dOutput, float* dInput) {
  const long planes = static_cast<long>(g.batch) * g.channels;
  if (isPool2x2(g)) {
    // The windows write every cell they cover; only a leftover odd row or column needs zeros first.
    if (g.inHeight != 2 * g.outHeight || g.inWidth != 2 * g.outWidth) std::fill(dInput, dInput + g.inputSize(), 0.0f);
    maxPool2x2Backward(g, input, output, dOutput, dInput);
    return;
  }
  std::fill(dInput, dInput + g.inputSize(), 0.0f);
  long index = 0;
  for (long plane = 0; plane < planes; plane++) {
    const long planeOffset = plane * g.inHeight * g.inWidth;
    for (int y = 0; y < g.outHeight; y++) {
      for (int x = 0; x < g.outWidth; x++, index++) {
        const float best = output[index];
        // NOTE: ties go to the first position in row-major order; overlapping windows add up.
        bool found = false;
        for (int i = 0; i < g.poolHeight && !found; i++) {
          const long rowOffset = planeOffset + (y * g.strideY + i) * g.inWidth + x * g.strideX;
          for (int j = 0; j < g.poolWidth; j++) {
            if (input[rowOffset + j] == best) {
              dInput[rowOffset + j] += dOutput[index];
              found = true;
              break;
            }
          }
        }
      }
    }
  }
}

void avgPool2dForward(const PoolGeometry& g, const float* input, float* output) {
  const long planes = static_cast<long>(g.batch) * g.channels;
  float* out = output;
  for (long plane = 0; plane < planes; plane++) {
    const float* inPlane = input + plane * g.inHeight * g.inWidth;
    for (int y = 0; y < g.outHeight; y++) {
      // The window clipped to the input: padded cells are not counted.
      const int top = std::max(y * g.strideY - g.padTop, 0);
      const int bottom = std::min(y * g.strideY - g.padTop + g.poolHeight, g.inHeight);
      for (int x = 0; x < g.outWidth; x++) {
        const int left = std::max(x * g.strideX - g.padLeft, 0);
        const int right = std::min(x * g.strideX - g.padLeft + g.poolWidth, g.inWidth);
        float sum = 0;
        for (int i = top; i < bottom; i++)
          for (int j = left; j < right; j++) sum += inPlane[i * g.inWidth + j];
        *out++ = sum / static_cast<float>((bottom - top) * (right - left));
      }
    }
  }
}

void avgPool2dBackward(const PoolGeometry& g, const float* dOutput, float* dInput) {
  const long planes = static_cast<long>(g.batch) * g.channels;
  std::fill(dInput, dInput + g.inputSize(), 0.0f);
  long index = 0;
  for (long plane = 0; plane < planes; plane++) {
    float* dPlane = dInput + plane * g.inHeight * g.inWidth;
    for (int y = 0; y < g.outHeight; y++) {
      const int top = std::max(y * g.strideY - g.padTop, 0);
      const int bottom = std::min(y * g.strideY - g.padTop + g.poolHeight, g.inHeight);
      for (int x = 0; x < g.outWidth; x++, index++) {
        const int left = std::max(x * g.strideX - g.padLeft, 0);
        const int right = std::min(x * g.strideX - g.padLeft + g.poolWidth, g.inWidth);
        const float share = dOutput[index] / static_cast<float>((bottom - top) * (right - left));
        for (int i = top; i < bottom; i++)
          for (int j = left; j < right; j++) dPlane[i * g.inWidth + j] += share;
      }
    }
  }
}

void reluForward(long length, const float* input, float* output) {
  for (long i = 0; i < length; i++) output[i] = input[i] > 0 ? input[i] : 0.0f;  // NaN -> 0, like the reference
}

void reluBackward(long length, const float* output, const float* dOutput, float* dInput) {
  for (long i = 0; i < length; i++) dInput[i] = output[i] > 0 ? dOutput[i] : 0.0f;
}

void multiply(long length, const float* a, const float* b, float* output) {
  for (long i = 0; i < length; i++) output[i] = a[i] * b[i];
}

void scale(long length, float* x, float factor) {
  for (long i = 0; i < length; i++) x[i] *= factor;
}

void softmaxCrossEntropy(int batch, int classes, const float* logits, const float* labels, float* probabilities, float* dLogits,
                         double gradientScale, float* result) {
  // In float64 like the reference (10 classes: nothing next to the convolutions).
  double lossSum = 0;
  int correct = 0;
  for (int n = 0; n < batch; n++) {
    const long row = static_cast<long>(n) * classes;
    const int label = static_cast<int>(labels[n]);
    double best = -std::numeric_limits<double>::infinity();
    int argmax = 0;
    for (int k = 0; k < classes; k++) {
      if (logits[row + k] > best) {
        best = logits[row + k];
        argmax = k;
      }
    }
    // Subtracting the max keeps exp() in (0, 1].
    double total = 0;
    for (int k = 0; k < classes; k++) total += std::exp(static_cast<double>(logits[row + k]) - best);
    lossSum += std::log(total) - (static_cast<double>(logits[row + label]) - best);
    if (argmax == label) correct++;
    for (int k = 0; k < classes; k++) {
      const double probability = std::exp(static_cast<double>(logits[row + k]) - best) / total;
      probabilities[row + k] = static_cast<float>(probability);
      dLogits[row + k] = static_cast<float>((probability - (k == label ? 1.0 : 0.0)) * gradientScale);
    }
  }
  result[0] = static_cast<float>(lossSum);
  result[1] = static_cast<float>(correct);
}

void sgdUpdate(long length, float* params, const float* grads, float* velocity, float learningRate, float momentum, bool nesterov) {
  // Keras: v = momentum*v - lr*g; p += nesterov ? momentum*v - lr*g : v
  for (long i = 0; i < length; i++) {
    const float g = grads[i];
    const float v = momentum * velocity[i] - learningRate * g;
    velocity[i] = v;
    params[i] += nesterov ? momentum * v - learningRate * g : v;
  }
}

void adadeltaUpdate(long length, float* params, const float* grads, float* accumulatedGrad, float* accumulatedDelta, double learningRateF64,
                    double rhoF64, double epsilonF64) {
  // Zeiler 2012, Algorithm 1, with Keras's learning_rate factor. NOTE: 1 - rho is taken in
  // float64 (float32(0.999) is off by 1.3e-8, a 1.3e-5 relative error in 1 - 0.999).
  const float learningRate = static_cast<float>(learningRateF64), rho = static_cast<float>(rhoF64);
  const float epsilon = static_cast<float>(epsilonF64), complement = static_cast<float>(1 - rhoF64);
  for (long i = 0; i < length; i++) {
    const float g = grads[i];
    const float accG = rho * accumulatedGrad[i] + complement * (g * g);
    accumulatedGrad[i] = accG;
    const float accD = accumulatedDelta[i];
    const float delta = (std::sqrt(accD + epsilon) / std::sqrt(accG + epsilon)) * g;
    accumulatedDelta[i] = rho * accD + complement * (delta * delta);
    params[i] -= learningRate * delta;
  }
}

void adamUpdate(long length, float* params, const float* grads, float* m, float* v, double learningRate, double beta1F64, double beta2F64,
                double epsilonF64, double step) {
  // Kingma & Ba 2015, Algorithm 1: scalars (bias corrections, complements) in float64, per-element work in float32.
  const float stepSize = static_cast<float>(learningRate / (1 - std::pow(beta1F64, step)));
  const float inverseCorrection2 = static_cast<float>(1 / (1 - std::pow(beta2F64, step)));
  const float beta1 = static_cast<float>(beta1F64), beta2 = static_cast<float>(beta2F64), epsilon = static_cast<float>(epsilonF64);
  const float complement1 = static_cast<float>(1 - beta1F64), complement2 = static_cast<float>(1 - beta2F64);
  for (long i = 0; i < length; i++) {
    const float g = grads[i];
    const float mi = beta1 * m[i] + complement1 * g;
    const float vi = beta2 * v[i] + complement2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    params[i] -= (stepSize * mi) / (std::sqrt(vi * inverseCorrection2) + epsilon);
  }
}
