// Goto/BLIS-style GEMM (see gemm.h for the contract):
//   for each block of NC columns
//     for each block of KC depths:  pack B[KC][NC] into NR-wide panels   [panel][k][NR]
//       for each block of MC rows:  pack A[MC][KC] into MR-row panels    [panel][k][MR]
//         for each B panel (stays in L1), for each A panel (streams from L2):
//           MR x NR register tile of FMAs
// Packing pads ragged edges with zeros, so the micro-kernel always runs a full tile; only an
// edge tile (or a C with column stride != 1) is stored through a small scratch tile.
#include "gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm_internal.h"
#include "kernels.h"
#include "simd.h"

using namespace gemm_internals;

Workspace& gemm_internals::threadWorkspace() {
  thread_local Workspace workspace;
  return workspace;
}

/** Packs A[i][k] (i < mc, k < kc) into MR-row panels [panel][k][MR], zero-padding missing rows. */
void gemm_internals::packA(int kc, int mc, const float* a, long rowStride, long colStride, float* dst) {
  for (int i0 = 0; i0 < mc; i0 += MR) {
    const int mr = std::min(MR, mc - i0);
    const float* panel = a + i0 * rowStride;
    if (mr == MR && rowStride == 1) {
      // A is transposed: the MR rows of one depth are contiguous.
      for (int k = 0; k < kc; k++) {
        for (int i = 0; i < MR; i++) dst[i] = panel[k * colStride + i];
        dst += MR;
      }
    } else if (mr == MR && MR == 8 && colStride == 1) {
      // Rows of A are contiguous: 8x8 transposes, then the ragged depths.
      const int k8 = kc & ~7;
      for (int k = 0; k < k8; k += 8) transpose8x8(panel + k, rowStride, dst + k * MR, MR);
      for (int i = 0; i < MR; i++)
        for (int k = k8; k < kc; k++) dst[k * MR + i] = panel[i * rowStride + k];
      dst += kc * MR;
    } else {
      for (int i = 0; i < MR; i++) {
        const float* src = panel + i * rowStride;
        if (i < mr) {
          for (int k = 0; k < kc; k++) dst[k * MR + i] = src[k * colStride];
        } else {
          for (int k = 0; k < kc; k++) dst[k * MR + i] = 0;
        }
      }
      dst += kc * MR;
    }
  }
}

namespace {

/**
 * The MR x NR micro-kernel: C (row stride ldc, contiguous rows) (+)= A panel x packed B panel.
 * A is packed ([k][MR], `Packed`) or read in place: MR rows `lda` apart, contiguous in k.
 * With `relu`, max(0, C) is stored (the conv forward's fused ReLU, on the last depth block).
 */
template <int NR, bool Packed>
inline void microKernel(int kc, const float* __restrict ap, long lda, const float* __restrict bp, float* __restrict c, long ldc, bool accumulate,
                        const float* rowBias = nullptr, bool relu = false) {
  constexpr int NV = NR / LANES;
  Vec sums[MR][NV];
  // The conv forward's bias starts the sums (instead of a pass that fills C with it first).
  startSums(sums, rowBias);
  for (int k = 0; k < kc; k++) {
    Vec b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = load(bp + v * LANES);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const Vec a = splat(Packed ? ap[i] : ap[i * lda]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) sums[i][v] += a * b[v];
    }
    ap += Packed ? MR : 1;
    bp += NR;
  }
  storeSums(sums, c, ldc, accumulate, relu);
}

/** Packs B[k][j] (k < kc, j < nc) into NR-wide panels [panel][k][NR], zero-padding the last panel. */
template <int NR>
void packB(int kc, int nc, const float* b, long rowStride, long colStride, float* dst) {
  for (int j0 = 0; j0 < nc; j0 += NR) {
    const int nr = std::min(NR, nc - j0);
    const float* panel = b + j0 * colStride;
    if (nr == NR && colStride == 1) {
      for (int k = 0; k < kc; k++) {
        const float* src = panel + k * rowStride;
        for (int v = 0; v < NR; v += LANES) store(dst + v, load(src + v));
        dst += NR;
      }
    } else if (nr == NR && rowStride == 1) {
      // Columns of B are contiguous (a transposed operand): 8x8 transposes, then the ragged depths.
      const int k8 = kc & ~7;
      for (int k = 0; k < k8; k += 8) {
        for (int j = 0; j < NR; j += 8) transpose8x8(panel + j * colStride + k, colStride, dst + k * NR + j, NR);
      }
      for (int j = 0; j < NR; j++)
        for (int k = k8; k < kc; k++) dst[k * NR + j] = panel[j * colStride + k];
      dst += kc * NR;
    } else if (colStride != 1 && rowStride == 1) {
      // The last, partial panel of a transposed operand: read along k, write across the panel.
      for (int j = 0; j < NR; j++) {
        const float* src = panel + j * colStride;
        if (j < nr) {
          for (int k = 0; k < kc; k++) dst[k * NR + j] = src[k];
        } else {
          for (int k = 0; k < kc; k++) dst[k * NR + j] = 0;
        }
      }
      dst += kc * NR;
    } else {
      for (int k = 0; k < kc; k++) {
        for (int j = 0; j < NR; j++) dst[j] = j < nr ? panel[k * rowStride + j * colStride] : 0.0f;
        dst += NR;
      }
    }
  }
}

/**
 * The loop nest; `packBBlock(pc, kc, jc, nc, dst)` packs B's depths pc..pc+kc and columns
 * jc..jc+nc into NR-wide panels [panel][k][NR] (zero-padded), from wherever B lives.
 * With `rowBias` (and accumulate false), C[i][j] = rowBias[i] + the product; with `relu`,
 * max(0, that) as the last depth block stores it.
 */
template <int NR, class PackBBlock>
void gemmBlocked(int m, int n, int depth, const float* a, long aRow, long aCol, const PackBBlock& packBBlock, float* c, long cRow, long cCol,
                 bool accumulate, const float* rowBias = nullptr, bool relu = false) {
  Workspace& w = threadWorkspace();
  float* packedA = aligned64(w.packedA);
  float* packedB = aligned64(w.packedB);
  const int ncStep = blockSize(n, NC, NR);
  const int kcStep = blockSize(depth, KC, 8);
  const int mcStep = blockSize(m, MC, MR);
  for (int jc = 0; jc < n; jc += ncStep) {
    const int nc = std::min(ncStep, n - jc);
    for (int pc = 0; pc < depth; pc += kcStep) {
      const int kc = std::min(kcStep, depth - pc);
      const bool add = accumulate || pc > 0;  // later depth blocks add to what the first one wrote
      const bool lastRelu = relu && pc + kc >= depth;  // the ReLU applies to the finished sums only
      packBBlock(pc, kc, jc, nc, packedB);
      for (int ic = 0; ic < m; ic += mcStep) {
        const int mc = std::min(mcStep, m - ic);
        const float* aBlock = a + ic * aRow + pc * aCol;
        // A panel used by one or two B panels: packing it would cost about what reading it
        // costs, so rows contiguous in k are read in place (the dense layer's 4.7 MB weight
        // as C^T = W x^T). Only a ragged last panel is packed (zero rows past m).
        const bool inPlace = aCol == 1 && nc <= 2 * NR;
        const int fullRows = inPlace ? mc / MR * MR : 0;
        if (fullRows < mc) packA(kc, mc - fullRows, aBlock + fullRows * aRow, aRow, aCol, packedA);
        for (int jr = 0; jr < nc; jr += NR) {
          const int nr = std::min(NR, nc - jr);
          const float* bp = packedB + static_cast<long>(jr) * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            const int mr = std::min(MR, mc - ir);
            float* cp = c + (ic + ir) * cRow + (jc + jr) * cCol;
            // A full tile of a row-major C is written in place; an edge tile (or a strided C) goes through `tile`.
            const bool inC = mr == MR && nr == NR && cCol == 1;
            float* target = inC ? cp : w.tile;
            const long ldc = inC ? cRow : NR;
            // The bias goes in with the first depth block; an edge tile adds it when stored.
            const float* tileBias = rowBias != nullptr && !add ? rowBias + ic + ir : nullptr;
            if (ir < fullRows) {
              microKernel<NR, false>(kc, aBlock + ir * aRow, aRow, bp, target, ldc, inC && add, inC ? tileBias : nullptr, inC && lastRelu);
            } else {
              microKernel<NR, true>(kc, packedA + static_cast<long>(ir - fullRows) * kc, MR, bp, target, ldc, inC && add, inC ? tileBias : nullptr,
                                    inC && lastRelu);
            }
            if (inC) continue;
            for (int i = 0; i < mr; i++) {
              const float start = tileBias != nullptr ? tileBias[i] : 0.0f;
              for (int j = 0; j < nr; j++) {
                float& out = cp[i * cRow + j * cCol];
                const float sum = add ? out + w.tile[i * NR + j] : start + w.tile[i * NR + j];
                out = lastRelu ? (sum > 0 ? sum : 0.0f) : sum;
              }
            }
          }
        }
      }
    }
  }
}

template <int NR>
void gemmOriented(int m, int n, int depth, const float* a, long aRow, long aCol, const float* b, long bRow, long bCol, float* c, long cRow,
                  long cCol, bool accumulate) {
  const auto packFromMatrix = [=](int pc, int kc, int jc, int nc, float* dst) { packB<NR>(kc, nc, b + pc * bRow + jc * bCol, bRow, bCol, dst); };
  gemmBlocked<NR>(m, n, depth, a, aRow, aCol, packFromMatrix, c, cRow, cCol, accumulate);
}

/**
 * Packs the im2col columns of one image (depths pc..pc+kc, every output position) straight
 * into NR-wide panels: the copies im2col makes (one output row of one window offset at a
 * time), with the destination in the panel layout. Only for imageColumnsPackable geometries.
 */
template <int NR>
void packImageColumns(const ConvGeometry& g, const float* image, int pc, int kc, float* dst) {
  const int positions = g.outHeight * g.outWidth;
  const int window = g.kernelHeight * g.kernelWidth;
  if (positions % NR != 0) std::fill(dst + static_cast<long>(positions / NR) * kc * NR, dst + static_cast<long>((positions + NR - 1) / NR) * kc * NR, 0.0f);
  for (int kk = 0; kk < kc; kk++) {
    const int k = pc + kk;
    const int channel = k / window, i = k % window / g.kernelWidth, j = k % g.kernelWidth;
    const float* source = image + (static_cast<long>(channel) * g.inHeight + i) * g.inWidth + j;
    float* depthRow = dst + static_cast<long>(kk) * NR;
    for (int y = 0; y < g.outHeight; y++) {
      const float* from = source + static_cast<long>(y) * g.inWidth;
      for (int x = 0; x < g.outWidth;) {
        const int p = y * g.outWidth + x;
        const int lane = p % NR;
        const int count = std::min(g.outWidth - x, NR - lane);
        float* to = depthRow + static_cast<long>(p / NR) * kc * NR + lane;
        std::memcpy(to, from + x, sizeof(float) * count);
        x += count;
      }
    }
  }
}

/**
 * Packs the transposed im2col columns of one image (B[p][k] = columns[k][p], positions
 * pc..pc+kc, every depth k) into NR-wide panels: 8 depths at a time are copied from the
 * image into a small buffer (L1) and 8x8-transposed into place, so the whole columns matrix
 * is never written. Only for imageColumnsTransposable geometries.
 */
template <int NR>
void packImageColumnsTransposed(const ConvGeometry& g, const float* image, int pc, int kc, int depthCount, float* dst) {
  const int window = g.kernelHeight * g.kernelWidth;
  if (g.outWidth % 8 == 0) {
    // 8 positions never straddle an output row: each 8x8 block is transposed straight from
    // the 8 image rows it reads (no copy into a buffer first).
    for (int k0 = 0; k0 < depthCount; k0 += 8) {
      const float* sources[8];
      for (int r = 0; r < 8; r++) {
        const int k = k0 + r;
        const int channel = k / window, i = k % window / g.kernelWidth, j = k % g.kernelWidth;
        sources[r] = image + (static_cast<long>(channel) * g.inHeight + i) * g.inWidth + j;
      }
      float* panel = dst + static_cast<long>(k0 / NR) * kc * NR + k0 % NR;
      for (int p = 0; p < kc; p += 8) {
        const long offset = static_cast<long>((pc + p) / g.outWidth) * g.inWidth + (pc + p) % g.outWidth;
        transpose8x8Rows([&](int r) { return sources[r] + offset; }, panel + static_cast<long>(p) * NR, NR);
      }
    }
    return;
  }
  alignas(64) float rows[8 * KC];
  for (int k0 = 0; k0 < depthCount; k0 += 8) {
    for (int r = 0; r < 8; r++) {
      const int k = k0 + r;
      const int channel = k / window, i = k % window / g.kernelWidth, j = k % g.kernelWidth;
      const float* source = image + (static_cast<long>(channel) * g.inHeight + i) * g.inWidth + j;
      float* row = rows + r * kc;
      for (int p = pc; p < pc + kc;) {
        const int y = p / g.outWidth, x = p % g.outWidth;
        const int count = std::min(g.outWidth - x, pc + kc - p);
        std::memcpy(row + (p - pc), source + static_cast<long>(y) * g.inWidth + x, sizeof(float) * count);
        p += count;
      }
    }
    float* panel = dst + static_cast<long>(k0 / NR) * kc * NR + k0 % NR;
    for (int p = 0; p < kc; p += 8) transpose8x8(rows + p, kc, panel + static_cast<long>(p) * NR, NR);
  }
}

/**
 * The tile width for `n` columns: WIDE unless its zero-padded last panel wastes more lanes
 * than NARROW's (576 and 288 columns: WIDE; a batch of 32 or 64 as columns: NARROW).
 */
int tileWidth(int n) {
  const int wide = (n + WIDE - 1) / WIDE * WIDE, narrow = (n + NARROW - 1) / NARROW * NARROW;
  return wide <= narrow ? WIDE : NARROW;
}

/** The product's size in lanes once m and n are padded to whole tiles. */
long paddedArea(int m, int n) {
  const int width = tileWidth(n);
  return static_cast<long>((m + MR - 1) / MR * MR) * ((n + width - 1) / width * width);
}

void gemmAnyWidth(int m, int n, int depth, const float* a, long aRow, long aCol, const float* b, long bRow, long bCol, float* c, long cRow,
                  long cCol, bool accumulate) {
  if (tileWidth(n) == WIDE) {
    gemmOriented<WIDE>(m, n, depth, a, aRow, aCol, b, bRow, bCol, c, cRow, cCol, accumulate);
  } else {
    gemmOriented<NARROW>(m, n, depth, a, aRow, aCol, b, bRow, bCol, c, cRow, cCol, accumulate);
  }
}

}  // namespace

void gemm(int m, int n, int depth, const float* a, long aRow, long aCol, const float* b, long bRow, long bCol, float* c, long cRow,
          long cCol, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (depth <= 0) {
    if (!accumulate) {
      for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[i * cRow + j * cCol] = 0;
    }
    return;
  }
  // C^T = B^T A^T when that wastes fewer padded lanes (e.g. n = 10 or n = 9 against m = 32).
  // NOTE: the transposed run stores C through the strided edge path, so it must save a
  // quarter of the padded lanes to pay off.
  if (paddedArea(n, m) * 4 <= paddedArea(m, n) * 3) {
    gemmAnyWidth(n, m, depth, b, bCol, bRow, a, aCol, aRow, c, cCol, cRow, accumulate);
  } else {
    gemmAnyWidth(m, n, depth, a, aRow, aCol, b, bRow, bCol, c, cRow, cCol, accumulate);
  }
}

bool imageColumnsPackable(const ConvGeometry& g) {
  // Stride 1, no padding, every window inside the image (a 'valid' convolution), and one
  // block of columns (the packed block holds every output position).
  return g.strideX == 1 && g.strideY == 1 && g.padTop == 0 && g.padLeft == 0 && g.outHeight + g.kernelHeight - 1 <= g.inHeight &&
         g.outWidth + g.kernelWidth - 1 <= g.inWidth && g.outHeight * g.outWidth <= NC;
}

void gemmImageColumns(int m, const float* a, long aRow, const ConvGeometry& g, const float* image, const float* rowBias, float* c, long cRow, bool relu) {
  const int depth = g.inChannels * g.kernelHeight * g.kernelWidth;
  const int positions = g.outHeight * g.outWidth;
  if (tileWidth(positions) == WIDE) {
    const auto packFromImage = [&](int pc, int kc, int, int, float* dst) { packImageColumns<WIDE>(g, image, pc, kc, dst); };
    gemmBlocked<WIDE>(m, positions, depth, a, aRow, 1, packFromImage, c, cRow, 1, false, rowBias, relu);
  } else {
    const auto packFromImage = [&](int pc, int kc, int, int, float* dst) { packImageColumns<NARROW>(g, image, pc, kc, dst); };
    gemmBlocked<NARROW>(m, positions, depth, a, aRow, 1, packFromImage, c, cRow, 1, false, rowBias, relu);
  }
}

namespace {
/** The tile width of the filter gradient's columns (the depths): whole panels, or none (0). */
int transposedTileWidth(int depth) {
  if (depth % WIDE == 0) return WIDE;
  if (depth % NARROW == 0) return NARROW;
  return 0;
}
}  // namespace

bool imageColumnsTransposable(const ConvGeometry& g) {
  const int depth = g.inChannels * g.kernelHeight * g.kernelWidth;
  // One block of depths (the packer fills every depth of the block), whole panels, whole 8x8 transposes.
  return imageColumnsPackable(g) && depth <= NC && transposedTileWidth(depth) != 0 && (g.outHeight * g.outWidth) % 8 == 0;
}

void gemmImageColumnsTransposed(int m, const float* a, long aRow, const ConvGeometry& g, const float* image, float* c, long cRow) {
  const int depth = g.inChannels * g.kernelHeight * g.kernelWidth;
  const int positions = g.outHeight * g.outWidth;
  if (transposedTileWidth(depth) == WIDE) {
    const auto packFromImage = [&](int pc, int kc, int, int nc, float* dst) { packImageColumnsTransposed<WIDE>(g, image, pc, kc, nc, dst); };
    gemmBlocked<WIDE>(m, depth, positions, a, aRow, 1, packFromImage, c, cRow, 1, true);
  } else {
    const auto packFromImage = [&](int pc, int kc, int, int nc, float* dst) { packImageColumnsTransposed<NARROW>(g, image, pc, kc, nc, dst); };
    gemmBlocked<NARROW>(m, depth, positions, a, aRow, 1, packFromImage, c, cRow, 1, true);
  }
}
