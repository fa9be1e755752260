// Convolution as im2col + GEMM, one image at a time (layouts as the TypeScript reference):
//   columns [inChannels*kernelHeight*kernelWidth, outHeight*outWidth] of one image,
//   row k = (c*kernelHeight + i)*kernelWidth + j, column p = y*outWidth + x.
#include <algorithm>
#include <cstring>

#include "conv_avx512.h"
#include "gemm.h"
#include "kernels.h"
#include "simd.h"

namespace {

/** First output column x whose input column x*stride - shift is >= 0 (shift = padLeft - j). */
inline int validStart(int outWidth, int stride, int shift) { return shift <= 0 ? 0 : std::min(outWidth, (shift + stride - 1) / stride); }

/** One past the last output column whose input column x*stride - shift is < inWidth (at least `start`). */
inline int validEnd(int outWidth, int stride, int inWidth, int shift, int start) {
  const int last = inWidth - 1 + shift;  // NOTE: negative when the window column lies beyond the image; '/' truncates
  if (last < 0) return start;
  return std::max(start, std::min(outWidth, last / stride + 1));
}

/** columns[k, p] = image[c, y*sy+i-padTop, x*sx+j-padLeft], zero outside the image. */
void im2col(const ConvGeometry& g, const float* image, float* columns) {
  float* dst = columns;
  for (int c = 0; c < g.inChannels; c++) {
    const float* channel = image + static_cast<long>(c) * g.inHeight * g.inWidth;
    for (int i = 0; i < g.kernelHeight; i++) {
      for (int j = 0; j < g.kernelWidth; j++) {
        const int xStart = validStart(g.outWidth, g.strideX, g.padLeft - j);
        const int xEnd = validEnd(g.outWidth, g.strideX, g.inWidth, g.padLeft - j, xStart);
        for (int y = 0; y < g.outHeight; y++, dst += g.outWidth) {
          const int inY = y * g.strideY + i - g.padTop;
          if (inY < 0 || inY >= g.inHeight || xEnd <= xStart) {
            std::memset(dst, 0, sizeof(float) * g.outWidth);
            continue;
          }
          std::fill(dst, dst + xStart, 0.0f);
          const float* src = channel + inY * g.inWidth + xStart * g.strideX + j - g.padLeft;
          if (g.strideX == 1) {
            std::memcpy(dst + xStart, src, sizeof(float) * (xEnd - xStart));
          } else {
            for (int x = xStart; x < xEnd; x++) dst[x] = src[(x - xStart) * g.strideX];
          }
          std::fill(dst + xEnd, dst + g.outWidth, 0.0f);
        }
      }
    }
  }
}

constexpr int GATHER_MAX_WINDOW = 49;

/** Whether col2imGather can run `g`: stride 1, no padding, a valid convolution, rows of at least a vector of interior columns. */
bool gatherable(const ConvGeometry& g) {
  return g.strideX == 1 && g.strideY == 1 && g.padTop == 0 && g.padLeft == 0 && g.outHeight + g.kernelHeight - 1 == g.inHeight &&
         g.outWidth + g.kernelWidth - 1 == g.inWidth && g.kernelHeight * g.kernelWidth <= GATHER_MAX_WINDOW &&
         g.outWidth - g.kernelWidth + 1 >= LANES;
}

/**
 * col2im as a gather, for gatherable geometries: each image row is summed in registers
 * from the column rows that read it and stored once (no zero-fill, no read-modify-write
 * passes). Interior columns (read by every window column j) go by whole vectors, the last
 * one overlapping its predecessor; the kernelWidth-1 columns at each end one by one.
 */
void col2imGather(const ConvGeometry& g, const float* columns, float* image) {
  const long positions = static_cast<long>(g.outHeight) * g.outWidth;
  const int interiorStart = g.kernelWidth - 1, interiorEnd = g.outWidth;  // image columns s read by every j
  const float* rows[GATHER_MAX_WINDOW];
  int shifts[GATHER_MAX_WINDOW];
  for (int c = 0; c < g.inChannels; c++) {
    const float* channelColumns = columns + static_cast<long>(c) * g.kernelHeight * g.kernelWidth * positions;
    for (int inY = 0; inY < g.inHeight; inY++) {
      const int count = gatherRows(g, channelColumns, positions, inY, rows, shifts);
      float* out = image + (static_cast<long>(c) * g.inHeight + inY) * g.inWidth;
      for (int s0 = interiorStart;; s0 += LANES) {
        const int start = std::min(s0, interiorEnd - LANES);
        Vec sum{};
        for (int t = 0; t < count; t++) sum += load(rows[t] + start - shifts[t]);
        store(out + start, sum);
        if (start + LANES >= interiorEnd) break;
      }
      for (int s = 0; s < g.inWidth; s++) {
        if (s == interiorStart) s = interiorEnd;
        if (s >= g.inWidth) break;
        float sum = 0;
        for (int t = 0; t < count; t++) {
          const int x = s - shifts[t];
          if (x >= 0 && x < g.outWidth) sum += rows[t][x];
        }
        out[s] = sum;
      }
    }
  }
}


/** The adjoint of im2col: image[c, inY, inX] = sum of the columns entries that read it (image overwritten). */
void col2im(const ConvGeometry& g, const float* columns, float* image) {
  std::fill(image, image + static_cast<long>(g.inChannels) * g.inHeight * g.inWidth, 0.0f);
  const float* src = columns;
  for (int c = 0; c < g.inChannels; c++) {
    float* channel = image + static_cast<long>(c) * g.inHeight * g.inWidth;
    for (int i = 0; i < g.kernelHeight; i++) {
      for (int j = 0; j < g.kernelWidth; j++) {
        const int xStart = validStart(g.outWidth, g.strideX, g.padLeft - j);
        const int xEnd = validEnd(g.outWidth, g.strideX, g.inWidth, g.padLeft - j, xStart);
        for (int y = 0; y < g.outHeight; y++, src += g.outWidth) {
          const int inY = y * g.strideY + i - g.padTop;
          if (inY < 0 || inY >= g.inHeight || xEnd <= xStart) continue;
          float* dst = channel + inY * g.inWidth + xStart * g.strideX + j - g.padLeft;
          const float* from = src + xStart;
          const int count = xEnd - xStart;
          if (g.strideX == 1) {
            for (int x = 0; x < count; x++) dst[x] += from[x];
          } else {
            for (int x = 0; x < count; x++) dst[x * g.strideX] += from[x];
          }
        }
      }
    }
  }
}

}  // namespace

void conv2dForward(const ConvGeometry& g, const float* input, const float* weight, const float* bias, float* output, float* columns, bool relu) {
#if defined(__AVX512F__)
  if (imageColumnsReadable(g)) {
    convForwardInPlace(g, input, weight, bias, output, relu);
    return;
  }
#endif
  const long positions = static_cast<long>(g.outHeight) * g.outWidth;
  const int depth = g.inChannels * g.kernelHeight * g.kernelWidth;
  // NOTE: the product then never reads `columns`; it is still the interface's scratch.
  const bool packable = imageColumnsPackable(g);
  for (int n = 0; n < g.batch; n++) {
    const float* image = input + static_cast<long>(n) * g.inChannels * g.inHeight * g.inWidth;
    float* out = output + static_cast<long>(n) * g.outChannels * positions;
    if (packable) {
      gemmImageColumns(g.outChannels, weight, depth, g, image, bias, out, positions, relu);  // the ReLU in the tiles' stores
      continue;
    }
    for (int o = 0; o < g.outChannels; o++) std::fill(out + o * positions, out + (o + 1) * positions, bias[o]);
    im2col(g, image, columns);
    gemm(g.outChannels, static_cast<int>(positions), depth, weight, depth, 1, columns, positions, 1, out, positions, 1, true);
    // Strided and padded convolutions: the ReLU over this image's output while it is still in cache.
    if (relu) reluForward(g.outChannels * positions, out, out);
  }
}

void conv2dBackwardFilter(const ConvGeometry& g, const float* input, const float* dOutput, float* dWeight, float* dBias, float* columns) {
#if defined(__AVX512F__)
  // Whole-batch kernels (they sum the bias too).
  if (filterGradientDirectable(g)) {
    filterGradientDirect(g, input, dOutput, dWeight, dBias);
    return;
  }
  if (filterGradientByDepthsRunnable(g)) {
    filterGradientByDepths(g, input, dOutput, dWeight, dBias);
    return;
  }
#endif
  const long positions = static_cast<long>(g.outHeight) * g.outWidth;
  const int depth = g.inChannels * g.kernelHeight * g.kernelWidth;
  const bool transposable = imageColumnsTransposable(g);
  for (int n = 0; n < g.batch; n++) {
    const float* image = input + static_cast<long>(n) * g.inChannels * g.inHeight * g.inWidth;
    const float* dOut = dOutput + static_cast<long>(n) * g.outChannels * positions;
    if (transposable) {
      gemmImageColumnsTransposed(g.outChannels, dOut, positions, g, image, dWeight, depth);
    } else {
      im2col(g, image, columns);
      // dWeight[o, k] += sum_p dOut[o, p] * columns[k, p]: B[p][k] = columns[k*positions + p] (transposed operand).
      gemm(g.outChannels, depth, static_cast<int>(positions), dOut, positions, 1, columns, 1, positions, dWeight, depth, 1, true);
    }
    for (int o = 0; o < g.outChannels; o++) dBias[o] += sumFloats(dOut + o * positions, positions);
  }
}

void conv2dBackwardInput(const ConvGeometry& g, const float* weight, const float* dOutput, float* dInput, float* columns) {
  const long positions = static_cast<long>(g.outHeight) * g.outWidth;
  const int depth = g.inChannels * g.kernelHeight * g.kernelWidth;
#if defined(__AVX512F__)
  const bool masked = maskedGatherable(g);
#else
  const bool masked = false;
#endif
  const bool gather = gatherable(g);
  const bool packOnce = columnsProductRunnable(depth, static_cast<int>(positions), g.outChannels);
  const float* packedWeight = packOnce ? packTransposedWeight(depth, g.outChannels, weight) : nullptr;
  for (int n = 0; n < g.batch; n++) {
    const float* dOut = dOutput + static_cast<long>(n) * g.outChannels * positions;
    // columns[k, p] = sum_o weight[o, k] * dOut[o, p]
    if (packOnce) {
      columnsProduct(depth, static_cast<int>(positions), g.outChannels, packedWeight, dOut, columns);
    } else {
      gemm(depth, static_cast<int>(positions), g.outChannels, weight, 1, depth, dOut, positions, 1, columns, positions, 1, false);
    }
    float* image = dInput + static_cast<long>(n) * g.inChannels * g.inHeight * g.inWidth;
    if (masked) {
#if defined(__AVX512F__)
      col2imMasked(g, columns, image);
#endif
    } else if (gather) {
      col2imGather(g, columns, image);
    } else {
      col2im(g, columns, image);
    }
  }
}
