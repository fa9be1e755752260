// Internals of the native GEMM (gemm.cc) shared with the convolution products that reuse its
// register tile, blocking and workspace (conv_products.cc): not part of gemm.h's contract.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "simd.h"

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace gemm_internals {

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
inline int blockSize(int total, int limit, int unit) {
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
/** This thread's workspace (defined in gemm.cc). */
Workspace& threadWorkspace();

inline float* aligned64(std::vector<float>& v) {
  auto address = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<float*>((address + 63) & ~uintptr_t(63));
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

/** Packs A[i][k] (i < mc, k < kc) into MR-row panels [panel][k][MR], zero-padding missing rows. */
void packA(int kc, int mc, const float* a, long rowStride, long colStride, float* dst);

/** A micro-kernel's register sums at the start: the conv forward's row bias (first depth block) or 0. */
template <int NV>
inline void startSums(Vec (&sums)[MR][NV], const float* rowBias) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) sums[i][v] = rowBias != nullptr ? splat(rowBias[i]) : Vec{};
}

/** A micro-kernel's tile into C (rows `ldc` apart): added to C's values with `accumulate`; max(0, x) stored with `relu`. */
template <int NV>
inline void storeSums(Vec (&sums)[MR][NV], float* c, long ldc, bool accumulate, bool relu) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    float* row = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      if (accumulate) sums[i][v] += load(row + v * LANES);
      // NOTE: `x > 0 ? x : 0` exactly as reluForward: NaN and -0 become +0.
      if (relu) sums[i][v] = sums[i][v] > Vec{} ? sums[i][v] : Vec{};
      store(row + v * LANES, sums[i][v]);
    }
  }
}

}  // namespace gemm_internals
