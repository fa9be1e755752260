// The convolution products that read the image or dOutput in place instead of packing
// them (conv.cc picks them by geometry; see gemm.h for their contracts): they reuse the
// GEMM's register tile, blocking and workspace (gemm_internal.h) with micro-kernels of their own.
#include <algorithm>
#include <cstring>

#include "gemm.h"
#include "gemm_internal.h"
#include "kernels.h"
#include "simd.h"

using namespace gemm_internals;

#if defined(__AVX512F__)
namespace {

/** A vector of 16 positions as two runs of 8, each contiguous in the image (an output row is whole runs of 8). */
typedef float RunVec __attribute__((vector_size(32), aligned(4)));
inline Vec loadRuns(const float* first, const float* second) {
  // NOTE: a vector shuffle, not _mm512_insertf64x4, whose GCC 12 header warns (-Wmaybe-uninitialized) in every build.
  const RunVec low = *reinterpret_cast<const RunVec*>(first), high = *reinterpret_cast<const RunVec*>(second);
  return __builtin_shufflevector(low, high, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/**
 * The WIDE micro-kernel with B read from the image instead of packed panels: B[k][p] =
 * image[depthOffsets[k] + runs[p / 8] + p % 8] for the tile's 48 positions (6 runs of 8).
 * A is packed ([k][MR]). With `rowBias` (first depth block) the sums start from it; with
 * `relu` (last depth block) max(0, sum) is stored instead of the sum.
 */
inline void microKernelImage(int kc, const float* __restrict ap, const float* image, const int* depthOffsets, const int (&runs)[6],
                             float* __restrict c, long ldc, bool accumulate, const float* rowBias, bool relu) {
  constexpr int NV = WIDE / LANES;
  Vec sums[MR][NV];
  startSums(sums, rowBias);
  for (int k = 0; k < kc; k++) {
    const float* base = image + depthOffsets[k];
    Vec b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = loadRuns(base + runs[2 * v], base + runs[2 * v + 1]);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const Vec a = splat(ap[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) sums[i][v] += a * b[v];
    }
    ap += MR;
  }
  storeSums(sums, c, ldc, accumulate, relu);
}


constexpr int FILTER_ROWS = 6;     // depths k per register tile
constexpr int FILTER_VECTORS = 4;  // output channels per tile: 64, as vectors
constexpr int FILTER_CHANNELS = FILTER_VECTORS * LANES;
constexpr int FILTER_MAX_DEPTH = MC * KC / FILTER_CHANNELS;  // the transposed sums fill at most the packed-A workspace

/**
 * One tile of the transposed filter gradient: ct[r][o] += sum over the output rows y0..y1
 * and columns x of image(k0 + r)[y, x] * bt[p][o] (bt = dOutput^T of one image, p = y*outWidth + x),
 * the image values broadcast from the image itself: bases[r] points at depth k0+r's window offset.
 */
inline void filterTile(int y0, int y1, int outWidth, int inWidth, const float* const (&bases)[FILTER_ROWS], const float* __restrict bt,
                       float* __restrict ct) {
  Vec sums[FILTER_ROWS][FILTER_VECTORS];
#pragma GCC unroll 8
  for (int r = 0; r < FILTER_ROWS; r++)
#pragma GCC unroll 4
    for (int v = 0; v < FILTER_VECTORS; v++) sums[r][v] = load(ct + r * FILTER_CHANNELS + v * LANES);
  for (int y = y0; y < y1; y++) {
    const float* btRow = bt + static_cast<long>(y) * outWidth * FILTER_CHANNELS;
    const long rowOffset = static_cast<long>(y) * inWidth;
    for (int x = 0; x < outWidth; x++) {
      Vec b[FILTER_VECTORS];
#pragma GCC unroll 4
      for (int v = 0; v < FILTER_VECTORS; v++) b[v] = load(btRow + x * FILTER_CHANNELS + v * LANES);
#pragma GCC unroll 8
      for (int r = 0; r < FILTER_ROWS; r++) {
        const Vec a = splat(bases[r][rowOffset + x]);
#pragma GCC unroll 4
        for (int v = 0; v < FILTER_VECTORS; v++) sums[r][v] += a * b[v];
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < FILTER_ROWS; r++)
#pragma GCC unroll 4
    for (int v = 0; v < FILTER_VECTORS; v++) store(ct + r * FILTER_CHANNELS + v * LANES, sums[r][v]);
}
}  // namespace

bool imageColumnsReadable(const ConvGeometry& g) {
  const int positions = g.outHeight * g.outWidth;
  const long depth = static_cast<long>(g.inChannels) * g.kernelHeight * g.kernelWidth;
  const long rows = (g.outChannels + MR - 1) / MR * MR;
  return imageColumnsPackable(g) && g.outWidth % 8 == 0 && positions % WIDE == 0 && depth * rows <= static_cast<long>(MC) * KC;
}

void convForwardInPlace(const ConvGeometry& g, const float* input, const float* weight, const float* bias, float* output, bool relu) {
  Workspace& w = threadWorkspace();
  float* packedA = aligned64(w.packedA);
  const int m = g.outChannels;
  const int rows = (m + MR - 1) / MR * MR;
  const int depth = g.inChannels * g.kernelHeight * g.kernelWidth;
  const int positions = g.outHeight * g.outWidth;
  const int window = g.kernelHeight * g.kernelWidth;
  const long imageSize = static_cast<long>(g.inChannels) * g.inHeight * g.inWidth;
  const int kcStep = blockSize(depth, KC, 8);
  // The weight, packed once for the whole batch: depth block pc's panels start at pc * rows.
  for (int pc = 0; pc < depth; pc += kcStep) packA(std::min(kcStep, depth - pc), m, weight + pc, depth, 1, packedA + static_cast<long>(pc) * rows);
  int depthOffsets[KC];
  for (int n = 0; n < g.batch; n++) {
    const float* image = input + n * imageSize;
    float* c = output + static_cast<long>(n) * m * positions;
    for (int pc = 0; pc < depth; pc += kcStep) {
      const int kc = std::min(kcStep, depth - pc);
      const bool add = pc > 0;  // later depth blocks add to what the first one wrote (with the bias)
      const bool last = pc + kc >= depth;  // the ReLU applies to the finished sums only
      for (int kk = 0; kk < kc; kk++) {
        const int k = pc + kk;
        const int channel = k / window, i = k % window / g.kernelWidth, j = k % g.kernelWidth;
        depthOffsets[kk] = (channel * g.inHeight + i) * g.inWidth + j;
      }
      const float* blockA = packedA + static_cast<long>(pc) * rows;
      for (int jr = 0; jr < positions; jr += WIDE) {
        int runs[6];
        for (int r = 0; r < 6; r++) {
          const int p = jr + 8 * r;
          runs[r] = p / g.outWidth * g.inWidth + p % g.outWidth;
        }
        for (int ir = 0; ir < m; ir += MR) {
          const int mr = std::min(MR, m - ir);
          float* cp = c + static_cast<long>(ir) * positions + jr;
          const float* tileBias = add ? nullptr : bias + ir;
          const float* ap = blockA + static_cast<long>(ir) * kc;
          if (mr == MR) {
            microKernelImage(kc, ap, image, depthOffsets, runs, cp, positions, add, tileBias, relu && last);
            continue;
          }
          // A ragged last row panel (packed with zero rows) goes through the scratch tile.
          microKernelImage(kc, ap, image, depthOffsets, runs, w.tile, WIDE, false, nullptr, false);
          for (int i = 0; i < mr; i++) {
            for (int j = 0; j < WIDE; j++) {
              const float sum = (add ? cp[i * positions + j] : tileBias[i]) + w.tile[i * WIDE + j];
              cp[i * positions + j] = relu && last ? (sum > 0 ? sum : 0.0f) : sum;
            }
          }
        }
      }
    }
  }
}

bool filterGradientByDepthsRunnable(const ConvGeometry& g) {
  const int depth = g.inChannels * g.kernelHeight * g.kernelWidth;
  const long positions = static_cast<long>(g.outHeight) * g.outWidth;
  // The workspace holds dOutput^T of one image (packedB) and the transposed sums (packedA).
  return imageColumnsPackable(g) && g.outChannels == FILTER_CHANNELS && depth % FILTER_ROWS == 0 && positions % 8 == 0 &&
         positions * FILTER_CHANNELS <= static_cast<long>(KC) * NC && depth <= FILTER_MAX_DEPTH;
}

void filterGradientByDepths(const ConvGeometry& g, const float* input, const float* dOutput, float* dWeight, float* dBias) {
  Workspace& w = threadWorkspace();
  float* bt = aligned64(w.packedB);  // [position][channel]: one image's dOutput^T
  float* ct = aligned64(w.packedA);  // [depth][channel]: the batch's sums, added into dWeight at the end
  const int depth = g.inChannels * g.kernelHeight * g.kernelWidth;
  const int positions = g.outHeight * g.outWidth;
  const int window = g.kernelHeight * g.kernelWidth;
  const long imageSize = static_cast<long>(g.inChannels) * g.inHeight * g.inWidth;
  // Output rows per block: the block's dOutput^T (rows*outWidth*64 floats) stays in L1 (32 KiB) across the depth tiles.
  const int blockRows = std::max(1, 32768 / (g.outWidth * FILTER_CHANNELS * 4));
  std::fill(ct, ct + static_cast<long>(depth) * FILTER_CHANNELS, 0.0f);
  Vec biasSums[FILTER_VECTORS] = {};
  int depthOffsets[FILTER_MAX_DEPTH];  // depth k's window offset in an image
  for (int k = 0; k < depth; k++) {
    const int channel = k / window, i = k % window / g.kernelWidth, j = k % g.kernelWidth;
    depthOffsets[k] = (channel * g.inHeight + i) * g.inWidth + j;
  }
  for (int n = 0; n < g.batch; n++) {
    const float* image = input + n * imageSize;
    const float* dOut = dOutput + static_cast<long>(n) * FILTER_CHANNELS * positions;
    for (int o = 0; o < FILTER_CHANNELS; o += 8)
      for (int p = 0; p < positions; p += 8) transpose8x8(dOut + static_cast<long>(o) * positions + p, positions, bt + static_cast<long>(p) * FILTER_CHANNELS + o, FILTER_CHANNELS);
    // The bias gradient from dOutput^T while it is in cache: its rows are the channels' vectors.
    for (int p = 0; p < positions; p++)
#pragma GCC unroll 4
      for (int v = 0; v < FILTER_VECTORS; v++) biasSums[v] += load(bt + static_cast<long>(p) * FILTER_CHANNELS + v * LANES);
    for (int y0 = 0; y0 < g.outHeight; y0 += blockRows) {
      const int y1 = std::min(g.outHeight, y0 + blockRows);
      for (int k0 = 0; k0 < depth; k0 += FILTER_ROWS) {
        const float* bases[FILTER_ROWS];
        for (int r = 0; r < FILTER_ROWS; r++) bases[r] = image + depthOffsets[k0 + r];
        filterTile(y0, y1, g.outWidth, g.inWidth, bases, bt, ct + static_cast<long>(k0) * FILTER_CHANNELS);
      }
    }
  }
  for (int v = 0; v < FILTER_VECTORS; v++)
    for (int lane = 0; lane < LANES; lane++) dBias[v * LANES + lane] += biasSums[v][lane];
  for (int o = 0; o < FILTER_CHANNELS; o++) {
    float* row = dWeight + static_cast<long>(o) * depth;
    for (int k = 0; k < depth; k++) row[k] += ct[static_cast<long>(k) * FILTER_CHANNELS + o];
  }
}
#endif

namespace {
/** The WIDE micro-kernel with B read in place (rows `ldb` apart): C (rows `ldc` apart) = A panel ([k][MR]) x B. */
inline void microKernelInPlaceB(int kc, const float* __restrict ap, const float* __restrict b, long ldb, float* __restrict c, long ldc) {
  constexpr int NV = WIDE / LANES;
  Vec sums[MR][NV] = {};
  for (int k = 0; k < kc; k++) {
    Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = load(b + v * LANES);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const Vec a = splat(ap[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) sums[i][v] += a * bv[v];
    }
    ap += MR;
    b += ldb;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) store(c + i * ldc + v * LANES, sums[i][v]);
}
}  // namespace

bool columnsProductRunnable(int depth, int positions, int outChannels) {
  const long panels = (depth + MR - 1) / MR;
  return positions % WIDE == 0 && panels * MR * outChannels <= static_cast<long>(MC) * KC;
}

const float* packTransposedWeight(int depth, int outChannels, const float* weight) {
  float* packed = aligned64(threadWorkspace().packedA);
  // A[k][o] = weight[o*depth + k]: each depth o's MR rows are contiguous in the weight.
  packA(outChannels, depth, weight, 1, depth, packed);
  return packed;
}

void columnsProduct(int depth, int positions, int outChannels, const float* packedWeight, const float* dOut, float* columns) {
  float* tile = threadWorkspace().tile;
  for (int jr = 0; jr < positions; jr += WIDE) {
    for (int ir = 0; ir < depth; ir += MR) {
      const float* ap = packedWeight + static_cast<long>(ir) * outChannels;
      float* c = columns + static_cast<long>(ir) * positions + jr;
      const int mr = std::min(MR, depth - ir);
      if (mr == MR) {
        microKernelInPlaceB(outChannels, ap, dOut + jr, positions, c, positions);
        continue;
      }
      microKernelInPlaceB(outChannels, ap, dOut + jr, positions, tile, WIDE);  // a ragged last row panel (zero rows packed)
      for (int i = 0; i < mr; i++) std::memcpy(c + static_cast<long>(i) * positions, tile + i * WIDE, sizeof(float) * WIDE);
    }
  }
}
