// Micro-benchmark of the native kernels at the default model's shapes, one chunk of 32
// images (the model's default chunk): the thread's CPU time of each kernel, best of 15 runs
// after a warm-up, so it is less disturbed by other processes than wall time. On a shared
// machine compare builds by alternating runs; only ratios within a run mean anything.
// From the repository's root (bash):
//   g++ -O3 -march=native -fno-math-errno -std=c++17 -Ipackages/core/native/src packages/core/native/bench/kernels.cc
//       packages/core/native/src/{conv,conv_avx512,conv_products,gemm,ops}.cc -o /tmp/convoy-kernels && /tmp/convoy-kernels
// The "gemm" lines time the conv2 and dense products alone (operands already laid out), so
// the difference to the whole kernel is its im2col / col2im / bias work.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <random>
#include <vector>

#include "gemm.h"
#include "kernels.h"

namespace {

double cpuMicroseconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

template <class Run>
double best(Run run) {
  constexpr int REPETITIONS = 15;
  double fastest = 1e18;
  run();
  for (int r = 0; r < REPETITIONS; r++) {
    const double start = cpuMicroseconds();
    run();
    fastest = std::min(fastest, cpuMicroseconds() - start);
  }
  return fastest;
}

std::mt19937 generator(1);
std::vector<float> randomArray(long length) {
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<float> values(length);
  for (float& value : values) value = uniform(generator);
  return values;
}

void report(const char* name, double microseconds, double flops) {
  if (flops > 0) {
    std::printf("%-24s %9.1f us  %5.0f GFLOP/s\n", name, microseconds, flops / microseconds / 1e3);
  } else {
    std::printf("%-24s %9.1f us\n", name, microseconds);
  }
}

}  // namespace

int main() {
  constexpr int BATCH = 32, HIDDEN = 128, FLAT = 9216;
  const ConvGeometry conv1{BATCH, 1, 28, 28, 32, 26, 26, 3, 3, 1, 1, 0, 0};
  const ConvGeometry conv2{BATCH, 32, 26, 26, 64, 24, 24, 3, 3, 1, 1, 0, 0};
  const PoolGeometry pool{BATCH, 64, 24, 24, 12, 12, 2, 2, 2, 2, 0, 0};
  auto images = randomArray(conv1.inputSize()), weight1 = randomArray(conv1.weightSize()), bias1 = randomArray(32);
  auto hidden1 = randomArray(conv1.outputSize()), scratch = randomArray(conv2.scratchSize());
  auto dWeight1 = randomArray(conv1.weightSize()), dBias1 = randomArray(32);
  auto weight2 = randomArray(conv2.weightSize()), bias2 = randomArray(64), hidden2 = randomArray(conv2.outputSize());
  auto dWeight2 = randomArray(conv2.weightSize()), dBias2 = randomArray(64), dHidden1 = randomArray(conv2.inputSize());
  auto pooled = randomArray(pool.outputSize()), dPooled = randomArray(pool.outputSize()), dHidden2 = randomArray(conv2.outputSize());
  auto denseWeight = randomArray(long{HIDDEN} * FLAT), denseBias = randomArray(HIDDEN), dense = randomArray(long{BATCH} * HIDDEN);
  auto dDenseWeight = randomArray(long{HIDDEN} * FLAT), dDenseBias = randomArray(HIDDEN), dFlat = randomArray(long{BATCH} * FLAT);
  const double convFlops = 2.0 * BATCH * 64 * 576 * 288, denseFlops = 2.0 * BATCH * HIDDEN * FLAT;

  reluForward(conv1.outputSize(), hidden1.data(), hidden1.data());  // activations as the model sees them: half zeros
  report("conv1 forward", best([&] { conv2dForward(conv1, images.data(), weight1.data(), bias1.data(), hidden1.data(), scratch.data(), false); }), 0);
  report("conv1 forward + relu", best([&] { conv2dForward(conv1, images.data(), weight1.data(), bias1.data(), hidden1.data(), scratch.data(), true); }), 0);
  report("conv1 filter gradient", best([&] { conv2dBackwardFilter(conv1, images.data(), hidden1.data(), dWeight1.data(), dBias1.data(), scratch.data()); }), 0);
  report("conv2 forward", best([&] { conv2dForward(conv2, hidden1.data(), weight2.data(), bias2.data(), hidden2.data(), scratch.data(), false); }), convFlops);
  report("conv2 forward + relu", best([&] { conv2dForward(conv2, hidden1.data(), weight2.data(), bias2.data(), hidden2.data(), scratch.data(), true); }), convFlops);
  report("conv2 filter gradient", best([&] { conv2dBackwardFilter(conv2, hidden1.data(), hidden2.data(), dWeight2.data(), dBias2.data(), scratch.data()); }), convFlops);
  report("conv2 input gradient", best([&] { conv2dBackwardInput(conv2, weight2.data(), hidden2.data(), dHidden1.data(), scratch.data()); }), convFlops);
  const auto columns = randomArray(conv2.scratchSize());
  auto product = randomArray(64L * 576), columnsOut = randomArray(conv2.scratchSize());
  report("  conv2 forward gemm", best([&] { for (int n = 0; n < BATCH; n++) gemm(64, 576, 288, weight2.data(), 288, 1, columns.data(), 576, 1, product.data(), 576, 1, true); }), convFlops);
  report("  conv2 filter gemm", best([&] { for (int n = 0; n < BATCH; n++) gemm(64, 288, 576, hidden2.data(), 576, 1, columns.data(), 1, 576, dWeight2.data(), 288, 1, true); }), convFlops);
  report("  conv2 input gemm", best([&] { for (int n = 0; n < BATCH; n++) gemm(288, 576, 64, weight2.data(), 1, 288, hidden2.data(), 576, 1, columnsOut.data(), 576, 1, false); }), convFlops);
  reluForward(conv2.outputSize(), hidden2.data(), hidden2.data());
  report("relu forward (conv2)", best([&] { reluForward(conv2.outputSize(), hidden2.data(), dHidden2.data()); }), 0);
  report("relu backward (conv2)", best([&] { reluBackward(conv2.outputSize(), hidden2.data(), dHidden2.data(), dHidden2.data()); }), 0);
  report("maxpool forward", best([&] { maxPool2dForward(pool, hidden2.data(), pooled.data()); }), 0);
  report("maxpool backward", best([&] { maxPool2dBackward(pool, hidden2.data(), pooled.data(), dPooled.data(), dHidden2.data()); }), 0);
  report("dense forward", best([&] { denseForward(BATCH, FLAT, HIDDEN, pooled.data(), denseWeight.data(), denseBias.data(), dense.data()); }), denseFlops);
  report("dense backward", best([&] { denseBackward(BATCH, FLAT, HIDDEN, pooled.data(), denseWeight.data(), dense.data(), dDenseWeight.data(), dDenseBias.data(), dFlat.data()); }), 2 * denseFlops);
  return 0;
}
