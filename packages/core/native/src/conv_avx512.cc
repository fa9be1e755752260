// AVX-512 convolution kernels (see conv_avx512.h): the input gradient's gather with masked
// loads and conv1's direct filter gradient.
#include "conv_avx512.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include <algorithm>

#include "gemm.h"
#include "simd.h"

namespace {

constexpr int MASKED_MAX_WINDOW = 49;  // kernelHeight*kernelWidth: the terms' row pointers are a stack array
constexpr int MASKED_MAX_CHUNKS = 8;  // image rows of up to 8 vectors (128 floats)

}  // namespace

/** Whether col2imMasked can run `g`: a valid stride-1 convolution (col2imGather's geometry) of rows up to MASKED_MAX_CHUNKS vectors. */
bool maskedGatherable(const ConvGeometry& g) {
  return g.strideX == 1 && g.strideY == 1 && g.padTop == 0 && g.padLeft == 0 && g.outHeight + g.kernelHeight - 1 == g.inHeight &&
         g.outWidth + g.kernelWidth - 1 == g.inWidth && g.kernelHeight * g.kernelWidth <= MASKED_MAX_WINDOW &&
         g.inWidth <= MASKED_MAX_CHUNKS * LANES;
}

namespace {

/**
 * col2imMasked for a kernel KW wide and image rows of CHUNKS vectors, with the window
 * columns and the row's vectors unrolled: the masks stay in mask registers and each load's
 * address is a base plus a constant. NOTE: the general loop read each term's row pointer,
 * shift and mask from the stack (three loads per masked load) and was load-bound at half
 * this speed.
 */
template <int KW, int CHUNKS>
void col2imMaskedNarrow(const ConvGeometry& g, const float* columns, float* image) {
  const long positions = static_cast<long>(g.outHeight) * g.outWidth;
  __mmask16 masks[CHUNKS][KW], rowMasks[CHUNKS];
  for (int q = 0; q < CHUNKS; q++) {
    const int s0 = q * LANES;
    rowMasks[q] = static_cast<__mmask16>((1u << std::min(LANES, g.inWidth - s0)) - 1);
    for (int j = 0; j < KW; j++) {
      const int low = std::max(j - s0, 0), high = std::min({j + g.outWidth - s0, g.inWidth - s0, LANES});
      masks[q][j] = high > low ? static_cast<__mmask16>(((1u << high) - 1) & ~((1u << low) - 1)) : 0;
    }
  }
  for (int c = 0; c < g.inChannels; c++) {
    const float* channelColumns = columns + static_cast<long>(c) * g.kernelHeight * KW * positions;
    float* channelImage = image + static_cast<long>(c) * g.inHeight * g.inWidth;
    for (int inY = 0; inY < g.inHeight; inY++) {
      // Kernel rows i whose output row inY - i exists.
      const int iFirst = std::max(0, inY - g.outHeight + 1), iEnd = std::min(g.kernelHeight, inY + 1);
      __m512 sums[CHUNKS][2];
#pragma GCC unroll 4
      for (int q = 0; q < CHUNKS; q++) sums[q][0] = sums[q][1] = _mm512_setzero_ps();
      for (int i = iFirst; i < iEnd; i++) {
        const float* base = channelColumns + i * KW * positions + static_cast<long>(inY - i) * g.outWidth;
#pragma GCC unroll 8
        for (int j = 0; j < KW; j++) {
          const float* row = base + j * positions - j;  // image column s reads column row (i, j) at s - j
#pragma GCC unroll 4
          for (int q = 0; q < CHUNKS; q++) sums[q][j & 1] = _mm512_add_ps(sums[q][j & 1], _mm512_maskz_loadu_ps(masks[q][j], row + q * LANES));
        }
      }
      float* out = channelImage + static_cast<long>(inY) * g.inWidth;
#pragma GCC unroll 4
      for (int q = 0; q < CHUNKS; q++) _mm512_mask_storeu_ps(out + q * LANES, rowMasks[q], _mm512_add_ps(sums[q][0], sums[q][1]));
    }
  }
}

}  // namespace

/**
 * conv.cc's col2imGather with AVX-512 masked loads: every vector of an image row (the border columns
 * too) is the sum of one masked load per column row that reads it, the lanes outside that
 * row's valid range masked to zero. NOTE: the border columns' scalar loop (a bounds check
 * per term) had cost more than the vectors; masked-off lanes never fault, so a load may
 * start before its column row (at s - j < 0) or end past it.
 */
void col2imMasked(const ConvGeometry& g, const float* columns, float* image) {
  const long positions = static_cast<long>(g.outHeight) * g.outWidth;
  const int chunks = (g.inWidth + LANES - 1) / LANES;
  if (g.kernelWidth == 3 && chunks == 2) return col2imMaskedNarrow<3, 2>(g, columns, image);  // conv2 of the default model
  if (g.kernelWidth == 3 && chunks == 1) return col2imMaskedNarrow<3, 1>(g, columns, image);
  // masks[q*kernelWidth + j]: lanes s = q*LANES + l with 0 <= s - j < outWidth (and s < inWidth).
  __mmask16 masks[MASKED_MAX_CHUNKS * MASKED_MAX_WINDOW];  // kernelWidth <= MASKED_MAX_WINDOW
  __mmask16 rowMasks[MASKED_MAX_CHUNKS];
  for (int q = 0; q < chunks; q++) {
    const int s0 = q * LANES;
    rowMasks[q] = static_cast<__mmask16>((1u << std::min(LANES, g.inWidth - s0)) - 1);
    for (int j = 0; j < g.kernelWidth; j++) {
      const int low = std::max(j - s0, 0), high = std::min({j + g.outWidth - s0, g.inWidth - s0, LANES});
      masks[q * g.kernelWidth + j] = high > low ? static_cast<__mmask16>(((1u << high) - 1) & ~((1u << low) - 1)) : 0;
    }
  }
  const float* rows[MASKED_MAX_WINDOW];
  int shifts[MASKED_MAX_WINDOW];
  for (int c = 0; c < g.inChannels; c++) {
    const float* channelColumns = columns + static_cast<long>(c) * g.kernelHeight * g.kernelWidth * positions;
    for (int inY = 0; inY < g.inHeight; inY++) {
      const int count = gatherRows(g, channelColumns, positions, inY, rows, shifts);
      float* out = image + (static_cast<long>(c) * g.inHeight + inY) * g.inWidth;
      for (int q = 0; q < chunks; q++) {
        const int s0 = q * LANES;
        const __mmask16* chunkMasks = masks + q * g.kernelWidth;
        __m512 sum = _mm512_setzero_ps(), other = _mm512_setzero_ps();  // two chains: each add waits on the previous
        int t = 0;
        for (; t + 1 < count; t += 2) {
          sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(chunkMasks[shifts[t]], rows[t] + s0 - shifts[t]));
          other = _mm512_add_ps(other, _mm512_maskz_loadu_ps(chunkMasks[shifts[t + 1]], rows[t + 1] + s0 - shifts[t + 1]));
        }
        if (t < count) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(chunkMasks[shifts[t]], rows[t] + s0 - shifts[t]));
        _mm512_mask_storeu_ps(out + s0, rowMasks[q], _mm512_add_ps(sum, other));
      }
    }
  }
}

/**
 * Whether filterGradientDirect can run `g`: a valid stride-1 3x3 convolution of input rows
 * of at most two vectors whose depth is not whole GEMM panels (conv1: one input channel).
 */
bool filterGradientDirectable(const ConvGeometry& g) {
  return g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideX == 1 && g.strideY == 1 && g.padTop == 0 && g.padLeft == 0 &&
         g.outHeight + 2 == g.inHeight && g.outWidth + 2 == g.inWidth && g.inWidth <= 2 * LANES && !imageColumnsTransposable(g);
}

namespace {

/** The sum of a vector's lanes. NOTE: not _mm512_reduce_add_ps, whose GCC 12 header warns (-Wmaybe-uninitialized) in every build. */
inline float laneSum(__m512 v) {
  const Vec lanes = (Vec)v;
  float sum = 0;
  for (int lane = 0; lane < LANES; lane++) sum += lanes[lane];
  return sum;
}

/** Lanes J.. of `low` followed by the first J lanes of `high` (the row vector that starts J columns later). */
template <int J>
inline Vec shifted(Vec low, Vec high) {
  static_assert(J == 1 || J == 2, "the 3x3 kernel's window columns");
  // NOTE: vector shuffles (valignd), not _mm512_alignr_epi32, whose GCC 12 header warns (-Wmaybe-uninitialized) in every build.
  if constexpr (J == 1) return __builtin_shufflevector(low, high, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
  return __builtin_shufflevector(low, high, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17);
}

}  // namespace

/**
 * The filter gradient of a 3x3 stride-1 valid convolution without im2col or GEMM:
 *   dWeight[o, c, i, j] += sum_{n, y, x} dOutput[n, o, y, x] * input[n, c, y+i, x+j]
 *   dBias[o] += sum_{n, y, x} dOutput[n, o, y, x]
 * two output channels at a time in 18 register sums (one per (o, i, j)) over every image
 * and output row. An input row is loaded once as two vectors; its three window columns are
 * lane shifts of them (valignd), and they serve both channels. NOTE: as im2col + GEMM, a
 * depth of 9 meant one tile load and store per 9 depth steps and transposed columns packed
 * element by element; loading each shifted row (11 unaligned loads per 18 FMAs) was
 * load-bound at half this speed.
 */
void filterGradientDirect(const ConvGeometry& g, const float* input, const float* dOutput, float* dWeight, float* dBias) {
  const long positions = static_cast<long>(g.outHeight) * g.outWidth;
  const long imageSize = static_cast<long>(g.inChannels) * g.inHeight * g.inWidth;
  // Lanes of an output row's two vectors, and of an input row's (masked loads never read past the image).
  const __mmask16 outLow = static_cast<__mmask16>((1u << std::min(LANES, g.outWidth)) - 1);
  const __mmask16 outHigh = g.outWidth > LANES ? static_cast<__mmask16>((1u << (g.outWidth - LANES)) - 1) : 0;
  const __mmask16 inLow = static_cast<__mmask16>((1u << std::min(LANES, g.inWidth)) - 1);
  const __mmask16 inHigh = g.inWidth > LANES ? static_cast<__mmask16>((1u << (g.inWidth - LANES)) - 1) : 0;
  const __m512 zero = _mm512_setzero_ps();
  // NOTE: every index into `sums` is a constant once the loops are unrolled; a runtime index
  // (a loop over a row's vectors) had put them on the stack.
  for (int c = 0; c < g.inChannels; c++) {
    for (int o0 = 0; o0 < g.outChannels; o0 += 2) {
      const bool pair = o0 + 1 < g.outChannels;
      __m512 sums[18], bias0 = zero, bias1 = zero;
#pragma GCC unroll 18
      for (int t = 0; t < 18; t++) sums[t] = zero;
      for (int n = 0; n < g.batch; n++) {
        const float* channel = input + n * imageSize + static_cast<long>(c) * g.inHeight * g.inWidth;
        const float* first = dOutput + (static_cast<long>(n) * g.outChannels + o0) * positions;
        const float* second = pair ? first + positions : first;  // a lone last channel sums itself twice; only the first is kept
        for (int y = 0; y < g.outHeight; y++) {
          const long at = static_cast<long>(y) * g.outWidth;
          // Masked lanes are zeros, so the products of lanes past the output row add nothing.
          const __m512 d0 = _mm512_maskz_loadu_ps(outLow, first + at), d1 = _mm512_maskz_loadu_ps(outLow, second + at);
          const __m512 e0 = _mm512_maskz_loadu_ps(outHigh, first + at + LANES), e1 = _mm512_maskz_loadu_ps(outHigh, second + at + LANES);
          bias0 += d0 + e0;
          bias1 += d1 + e1;
#pragma GCC unroll 3
          for (int i = 0; i < 3; i++) {
            const float* row = channel + static_cast<long>(y + i) * g.inWidth;
            const __m512 low = _mm512_maskz_loadu_ps(inLow, row), high = _mm512_maskz_loadu_ps(inHigh, row + LANES);
            const __m512 x0 = low, x1 = shifted<1>(low, high), x2 = shifted<2>(low, high);
            const __m512 z0 = high, z1 = shifted<1>(high, zero), z2 = shifted<2>(high, zero);
            sums[i * 3] = _mm512_fmadd_ps(d0, x0, _mm512_fmadd_ps(e0, z0, sums[i * 3]));
            sums[i * 3 + 1] = _mm512_fmadd_ps(d0, x1, _mm512_fmadd_ps(e0, z1, sums[i * 3 + 1]));
            sums[i * 3 + 2] = _mm512_fmadd_ps(d0, x2, _mm512_fmadd_ps(e0, z2, sums[i * 3 + 2]));
            sums[9 + i * 3] = _mm512_fmadd_ps(d1, x0, _mm512_fmadd_ps(e1, z0, sums[9 + i * 3]));
            sums[9 + i * 3 + 1] = _mm512_fmadd_ps(d1, x1, _mm512_fmadd_ps(e1, z1, sums[9 + i * 3 + 1]));
            sums[9 + i * 3 + 2] = _mm512_fmadd_ps(d1, x2, _mm512_fmadd_ps(e1, z2, sums[9 + i * 3 + 2]));
          }
        }
      }
      float* out = dWeight + (static_cast<long>(o0) * g.inChannels + c) * 9;
      float* nextOut = out + static_cast<long>(g.inChannels) * 9;
#pragma GCC unroll 9
      for (int t = 0; t < 9; t++) {
        out[t] += laneSum(sums[t]);
        if (pair) nextOut[t] += laneSum(sums[9 + t]);
      }
      if (c == 0) {
        dBias[o0] += laneSum(bias0);
        if (pair) dBias[o0 + 1] += laneSum(bias1);
      }
    }
  }
}
#endif
