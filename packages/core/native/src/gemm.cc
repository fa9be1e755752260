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

#include "kernels.h"
#include "simd.h"

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace {

// Register tile: MR rows x NR columns = MR * NR/LANES vector accumulators, NR being
// NARROW or WIDE (gemm picks per product, see tileWidth).
// AVX-512 (32 registers): 8 x 48 = 24 zmm accumulators + 3 B vectors + a broadcast, so a
// depth step is 24 FMAs for 3 loads and 8 broadcasts (8 x 32: 16 FMAs for 2 + 8); 8 rows
// divide every channel and batch count of the default model (32, 64, 128), 48 columns its
// conv products' 576 positions and 288 depths. 8 x 32 stays for narrow products (a dense
// layer's batch of 32 as columns would waste a third of a 48-wide tile).
// 8 lanes (AVX2, 16 registers): 6 x 16 = 12 accumulators + 2 B + 1 broadcast; no wide tile.
#if defined(__AVX512F__)
constexpr int MR = 8;
constexpr int WIDE = 3 * LANES;
#else
constexpr int MR = 6;
constexpr int WIDE = 2 * LANES;
#endif
constexpr int NARROW = 2 * LANES;

// Blocking: a B panel (KC*NR*4 = 32 KiB with AVX-512) stays in L1 while the A panels of one
// MC block (MC*KC*4 <= 384 KiB) stream from L2; a packed B block (KC*NC*4 <= 1 MiB) is
// reused by every A block.
constexpr int KC = 256;
constexpr int NC = 1152;  // a multiple of both tile widths (32 and 48)
constexpr int MC = 384;
static_assert(NC % NARROW == 0 && NC % WIDE == 0, "a block of columns is whole panels of either width");

/** Splits `total` into equal blocks of at most `limit`, rounded up to a multiple of `unit`. */
int blockSize(int total, int limit, int unit) {
  const int blocks = (total + limit - 1) / limit;
  const int size = (total + blocks - 1) / blocks;
  return std::min(limit, (size + unit - 1) / unit * unit);
}

/** Per-thread workspace (a worker may run kernels on several threads). */
struct Workspace {
  std::vector<float> packedA, packedB;
  alignas(64) float tile[MR * WIDE];
  Workspace() : packedA(MC * KC + 64), packedB(static_cast<size_t>(KC) * NC + 64) {}
};
thread_local Workspace workspace;

float* aligned64(std::vector<float>& v) {
  auto address = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<float*>((address + 63) & ~uintptr_t(63));
}

/**
 * The MR x NR micro-kernel: C (row stride ldc, contiguous rows) (+)= A panel x packed B panel.
 * A is packed ([k][MR], `Packed`) or read in place: MR rows `lda` apart, contiguous in k.
 */
template <int NR, bool Packed>
inline void microKernel(int kc, const float* __restrict ap, long lda, const float* __restrict bp, float* __restrict c, long ldc, bool accumulate,
                        const float* rowBias = nullptr) {
  constexpr int NV = NR / LANES;
  Vec sums[MR][NV];
  // The conv forward's bias starts the sums (instead of a pass that fills C with it first).
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) sums[i][v] = rowBias != nullptr ? splat(rowBias[i]) : Vec{};
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
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    float* row = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      if (accumulate) sums[i][v] += load(row + v * LANES);
      store(row + v * LANES, sums[i][v]);
    }
  }
}

/**
 * dst[c*dstStride + r] = row(r)[c] for r, c < 8 (`row(r)`: a pointer to 8 floats). Packing a
 * transposed operand is made of these: element by element it cost more than the FMAs of the
 * product it fed.
 */
template <class Row>
inline void transpose8x8Rows(const Row& row, float* dst, long dstStride) {
#if defined(__AVX__)
  const __m256 r0 = _mm256_loadu_ps(row(0)), r1 = _mm256_loadu_ps(row(1));
  const __m256 r2 = _mm256_loadu_ps(row(2)), r3 = _mm256_loadu_ps(row(3));
  const __m256 r4 = _mm256_loadu_ps(row(4)), r5 = _mm256_loadu_ps(row(5));
  const __m256 r6 = _mm256_loadu_ps(row(6)), r7 = _mm256_loadu_ps(row(7));
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + dstStride, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * dstStride, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * dstStride, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * dstStride, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * dstStride, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * dstStride, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * dstStride, _mm256_permute2f128_ps(u3, u7, 0x31));
#else
  for (int r = 0; r < 8; r++)
    for (int c = 0; c < 8; c++) dst[c * dstStride + r] = row(r)[c];
#endif
}

/** dst[c*dstStride + r] = src[r*srcStride + c] for r, c < 8. */
inline void transpose8x8(const float* src, long srcStride, float* dst, long dstStride) {
  transpose8x8Rows([=](int r) { return src + r * srcStride; }, dst, dstStride);
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

/** Packs A[i][k] (i < mc, k < kc) into MR-row panels [panel][k][MR], zero-padding missing rows. */
void packA(int kc, int mc, const float* a, long rowStride, long colStride, float* dst) {
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

/**
 * The loop nest; `packBBlock(pc, kc, jc, nc, dst)` packs B's depths pc..pc+kc and columns
 * jc..jc+nc into NR-wide panels [panel][k][NR] (zero-padded), from wherever B lives.
 * With `rowBias` (and accumulate false), C[i][j] = rowBias[i] + the product.
 */
template <int NR, class PackBBlock>
void gemmBlocked(int m, int n, int depth, const float* a, long aRow, long aCol, const PackBBlock& packBBlock, float* c, long cRow, long cCol,
                 bool accumulate, const float* rowBias = nullptr) {
  Workspace& w = workspace;
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
              microKernel<NR, false>(kc, aBlock + ir * aRow, aRow, bp, target, ldc, inC && add, inC ? tileBias : nullptr);
            } else {
              microKernel<NR, true>(kc, packedA + static_cast<long>(ir - fullRows) * kc, MR, bp, target, ldc, inC && add, inC ? tileBias : nullptr);
            }
            if (inC) continue;
            for (int i = 0; i < mr; i++) {
              const float start = tileBias != nullptr ? tileBias[i] : 0.0f;
              for (int j = 0; j < nr; j++) {
                float& out = cp[i * cRow + j * cCol];
                out = add ? out + w.tile[i * NR + j] : start + w.tile[i * NR + j];
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

#if defined(__AVX512F__)
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
 * A is packed ([k][MR]). With `rowBias` (first depth block) the sums start from it.
 */
inline void microKernelImage(int kc, const float* __restrict ap, const float* image, const int* depthOffsets, const int (&runs)[6],
                             float* __restrict c, long ldc, bool accumulate, const float* rowBias) {
  constexpr int NV = WIDE / LANES;
  Vec sums[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) sums[i][v] = rowBias != nullptr ? splat(rowBias[i]) : Vec{};
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
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    float* row = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      if (accumulate) sums[i][v] += load(row + v * LANES);
      store(row + v * LANES, sums[i][v]);
    }
  }
}

#endif

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

void gemmImageColumns(int m, const float* a, long aRow, const ConvGeometry& g, const float* image, const float* rowBias, float* c, long cRow) {
  const int depth = g.inChannels * g.kernelHeight * g.kernelWidth;
  const int positions = g.outHeight * g.outWidth;
  if (tileWidth(positions) == WIDE) {
    const auto packFromImage = [&](int pc, int kc, int, int, float* dst) { packImageColumns<WIDE>(g, image, pc, kc, dst); };
    gemmBlocked<WIDE>(m, positions, depth, a, aRow, 1, packFromImage, c, cRow, 1, false, rowBias);
  } else {
    const auto packFromImage = [&](int pc, int kc, int, int, float* dst) { packImageColumns<NARROW>(g, image, pc, kc, dst); };
    gemmBlocked<NARROW>(m, positions, depth, a, aRow, 1, packFromImage, c, cRow, 1, false, rowBias);
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

#if defined(__AVX512F__)
namespace {
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

void convForwardInPlace(const ConvGeometry& g, const float* input, const float* weight, const float* bias, float* output) {
  Workspace& w = workspace;
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
            microKernelImage(kc, ap, image, depthOffsets, runs, cp, positions, add, tileBias);
            continue;
          }
          // A ragged last row panel (packed with zero rows) goes through the scratch tile.
          microKernelImage(kc, ap, image, depthOffsets, runs, w.tile, WIDE, false, nullptr);
          for (int i = 0; i < mr; i++)
            for (int j = 0; j < WIDE; j++) cp[i * positions + j] = (add ? cp[i * positions + j] : tileBias[i]) + w.tile[i * WIDE + j];
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
  Workspace& w = workspace;
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
  float* packed = aligned64(workspace.packedA);
  // A[k][o] = weight[o*depth + k]: each depth o's MR rows are contiguous in the weight.
  packA(outChannels, depth, weight, 1, depth, packed);
  return packed;
}

void columnsProduct(int depth, int positions, int outChannels, const float* packedWeight, const float* dOut, float* columns) {
  float* tile = workspace.tile;
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
