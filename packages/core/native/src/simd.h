// Vector types for the native kernels, written once with GCC/Clang vector extensions so the
// same source compiles to AVX-512 (16 lanes), AVX2+FMA or NEON (8 lanes, split by the
// compiler) by flags alone (-march=native at install). Multiply-adds contract to FMA
// (-ffp-contract=fast, GCC's default in GNU mode).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
constexpr int LANES = 16;
#else
constexpr int LANES = 8;
#endif

typedef float Vec __attribute__((vector_size(LANES * 4)));
/** The same vector, loadable from any float address (4-byte alignment). */
typedef float UnalignedVec __attribute__((vector_size(LANES * 4), aligned(4)));

inline Vec load(const float* p) { return *reinterpret_cast<const UnalignedVec*>(p); }
inline void store(float* p, Vec v) { *reinterpret_cast<UnalignedVec*>(p) = v; }
/** x in every lane. NOTE: not `Vec{} + x`: x + 0 is not x for x = -0, so that costs a scalar add before each broadcast. */
inline Vec splat(float x) { return x - Vec{}; }

/** What the build targets, for the backend's description. */
inline const char* simdName() {
#if defined(__AVX512F__)
  return "AVX-512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "AVX2+FMA";
#elif defined(__ARM_NEON)
  return "NEON";
#else
  return "generic vectors";
#endif
}

/**
 * Sum of `count` floats in vector lanes. NOTE: a plain `sum += x[i]` loop is one dependent
 * add per element (the compiler may not reorder float adds): ~4 cycles each, which made the
 * bias gradient of a conv layer cost a quarter of its filter-gradient product.
 */
inline float sumFloats(const float* x, long count) {
  Vec first{}, second{};
  long i = 0;
  for (; i + 2 * LANES <= count; i += 2 * LANES) {
    first += load(x + i);
    second += load(x + i + LANES);
  }
  for (; i + LANES <= count; i += LANES) first += load(x + i);
  first += second;
  float sum = 0;
  for (int lane = 0; lane < LANES; lane++) sum += first[lane];
  for (; i < count; i++) sum += x[i];
  return sum;
}
