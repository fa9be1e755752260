// N-API binding of the native kernels: one entry per method of the Kernels interface, taking
// integers, floats and Float32Arrays. Arrays are used in place through their data pointers
// (no copies); every array's type and length is checked against what the geometry needs
// before any kernel runs, since a native loop has no bounds checks of its own.
#include <node_api.h>

#include <cstdint>
#include <string>

#include "kernels.h"
#include "simd.h"

namespace {

constexpr size_t MAX_ARGS = 24;

/** One call's arguments; the first failure throws a JS error (with a `code`) and makes `ok` false. */
class Call {
 public:
  Call(napi_env env, napi_callback_info info) : env_(env) {
    argc_ = MAX_ARGS;
    if (napi_get_cb_info(env, info, &argc_, argv_, nullptr, nullptr) != napi_ok) fail("BAD_ARGUMENT", "cannot read the arguments");
  }

  bool ok() const { return ok_; }

  double number(size_t index) {
    double value = 0;
    if (ok_ && (index >= argc_ || napi_get_value_double(env_, argv_[index], &value) != napi_ok)) {
      fail("BAD_ARGUMENT", "argument " + std::to_string(index) + " must be a number");
    }
    return value;
  }

  /** An integer in [minimum, 2^31). */
  int integer(size_t index, int minimum) {
    const double value = number(index);
    if (ok_ && !(value >= minimum && value < 2147483648.0 && static_cast<double>(static_cast<int64_t>(value)) == value)) {
      fail("BAD_ARGUMENT", "argument " + std::to_string(index) + " must be an integer >= " + std::to_string(minimum) + ", got " + std::to_string(value));
    }
    return ok_ ? static_cast<int>(value) : 0;
  }

  /** A boolean argument (a missing one is an error: the binding always passes it). */
  bool flag(size_t index) {
    bool value = false;
    if (ok_ && (index >= argc_ || napi_get_value_bool(env_, argv_[index], &value) != napi_ok)) {
      fail("BAD_ARGUMENT", "argument " + std::to_string(index) + " must be a boolean");
    }
    return value;
  }

  bool isNull(size_t index) {
    napi_valuetype type = napi_undefined;
    if (index < argc_) napi_typeof(env_, argv_[index], &type);
    return type == napi_null || type == napi_undefined;
  }

  /** The data of the Float32Array argument `index`, which must hold at least `needed` elements. */
  float* floats(size_t index, long needed, const char* what) {
    if (!ok_) return nullptr;
    bool isTypedArray = false;
    napi_typedarray_type type = napi_int8_array;
    size_t length = 0;
    void* data = nullptr;
    if (index >= argc_ || napi_is_typedarray(env_, argv_[index], &isTypedArray) != napi_ok || !isTypedArray ||
        napi_get_typedarray_info(env_, argv_[index], &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float32_array) {
      fail("BAD_ARGUMENT", std::string("native kernels: '") + what + "' must be a Float32Array");
      return nullptr;
    }
    if (needed < 0 || static_cast<long>(length) < needed) {
      fail("ARRAY_TOO_SHORT", std::string("native kernels: '") + what + "' has " + std::to_string(length) + " elements, needs " + std::to_string(needed));
      return nullptr;
    }
    return static_cast<float*>(data);
  }

  ConvGeometry conv(size_t first) {
    ConvGeometry g{};
    int* fields[] = {&g.batch, &g.inChannels, &g.inHeight, &g.inWidth, &g.outChannels, &g.outHeight, &g.outWidth,
                     &g.kernelHeight, &g.kernelWidth, &g.strideY, &g.strideX, &g.padTop, &g.padLeft};
    const int minimum[] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    for (size_t i = 0; i < 13; i++) *fields[i] = integer(first + i, minimum[i]);
    return g;
  }

  /** Pooling geometry: 10 integers, then padTop and padLeft when `padded` (average pooling). */
  PoolGeometry pool(size_t first, bool padded) {
    PoolGeometry g{};
    int* fields[] = {&g.batch, &g.channels, &g.inHeight, &g.inWidth, &g.outHeight, &g.outWidth,
                     &g.poolHeight, &g.poolWidth, &g.strideY, &g.strideX, &g.padTop, &g.padLeft};
    const size_t count = padded ? 12 : 10;
    for (size_t i = 0; i < count; i++) *fields[i] = integer(first + i, i < 2 || i >= 10 ? 0 : 1);
    if (!ok_) return g;
    // NOTE: a window reaching outside the input would read or write outside its array here.
    const long lastRow = static_cast<long>(g.outHeight - 1) * g.strideY - g.padTop, lastColumn = static_cast<long>(g.outWidth - 1) * g.strideX - g.padLeft;
    if (!padded && (lastRow + g.poolHeight > g.inHeight || lastColumn + g.poolWidth > g.inWidth)) {
      fail("BAD_ARGUMENT", "native kernels: max-pooling windows reach outside the input");
    }
    if (padded && (g.padTop >= g.poolHeight || g.padLeft >= g.poolWidth || lastRow >= g.inHeight || lastColumn >= g.inWidth)) {
      fail("BAD_ARGUMENT", "native kernels: average-pooling windows lie outside the input");
    }
    return g;
  }

  void fail(const std::string& code, const std::string& message) {
    if (!ok_) return;
    ok_ = false;
    napi_throw_error(env_, code.c_str(), message.c_str());
  }

 private:
  napi_env env_;
  size_t argc_ = 0;
  napi_value argv_[MAX_ARGS] = {};
  bool ok_ = true;
};

napi_value Conv2dForward(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const ConvGeometry g = call.conv(0);
  const float* input = call.floats(13, g.inputSize(), "input");
  const float* weight = call.floats(14, g.weightSize(), "weight");
  const float* bias = call.floats(15, g.outChannels, "bias");
  float* output = call.floats(16, g.outputSize(), "output");
  float* scratch = call.floats(17, g.scratchSize(), "scratch");
  const bool relu = call.flag(18);
  if (call.ok()) conv2dForward(g, input, weight, bias, output, scratch, relu);
  return nullptr;
}

napi_value Conv2dBackwardFilter(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const ConvGeometry g = call.conv(0);
  const float* input = call.floats(13, g.inputSize(), "input");
  const float* dOutput = call.floats(14, g.outputSize(), "dOutput");
  float* dWeight = call.floats(15, g.weightSize(), "dWeight");
  float* dBias = call.floats(16, g.outChannels, "dBias");
  float* scratch = call.floats(17, g.scratchSize(), "scratch");
  if (call.ok()) conv2dBackwardFilter(g, input, dOutput, dWeight, dBias, scratch);
  return nullptr;
}

napi_value Conv2dBackwardInput(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const ConvGeometry g = call.conv(0);
  const float* weight = call.floats(13, g.weightSize(), "weight");
  const float* dOutput = call.floats(14, g.outputSize(), "dOutput");
  float* dInput = call.floats(15, g.inputSize(), "dInput");
  float* scratch = call.floats(16, g.scratchSize(), "scratch");
  if (call.ok()) conv2dBackwardInput(g, weight, dOutput, dInput, scratch);
  return nullptr;
}

napi_value MaxPool2dForward(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const PoolGeometry g = call.pool(0, false);
  const float* input = call.floats(10, g.inputSize(), "input");
  float* output = call.floats(11, g.outputSize(), "output");
  if (call.ok()) maxPool2dForward(g, input, output);
  return nullptr;
}

napi_value MaxPool2dBackward(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const PoolGeometry g = call.pool(0, false);
  const float* input = call.floats(10, g.inputSize(), "input");
  const float* output = call.floats(11, g.outputSize(), "output");
  const float* dOutput = call.floats(12, g.outputSize(), "dOutput");
  float* dInput = call.floats(13, g.inputSize(), "dInput");
  if (call.ok()) maxPool2dBackward(g, input, output, dOutput, dInput);
  return nullptr;
}

napi_value AvgPool2dForward(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const PoolGeometry g = call.pool(0, true);
  const float* input = call.floats(12, g.inputSize(), "input");
  float* output = call.floats(13, g.outputSize(), "output");
  if (call.ok()) avgPool2dForward(g, input, output);
  return nullptr;
}

napi_value AvgPool2dBackward(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const PoolGeometry g = call.pool(0, true);
  const float* dOutput = call.floats(12, g.outputSize(), "dOutput");
  float* dInput = call.floats(13, g.inputSize(), "dInput");
  if (call.ok()) avgPool2dBackward(g, dOutput, dInput);
  return nullptr;
}

napi_value DenseForward(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const int batch = call.integer(0, 0), inFeatures = call.integer(1, 0), outFeatures = call.integer(2, 0);
  const float* input = call.floats(3, static_cast<long>(batch) * inFeatures, "input");
  const float* weight = call.floats(4, static_cast<long>(outFeatures) * inFeatures, "weight");
  const float* bias = call.floats(5, outFeatures, "bias");
  float* output = call.floats(6, static_cast<long>(batch) * outFeatures, "output");
  if (call.ok()) denseForward(batch, inFeatures, outFeatures, input, weight, bias, output);
  return nullptr;
}

napi_value DenseBackward(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const int batch = call.integer(0, 0), inFeatures = call.integer(1, 0), outFeatures = call.integer(2, 0);
  const float* input = call.floats(3, static_cast<long>(batch) * inFeatures, "input");
  const float* weight = call.floats(4, static_cast<long>(outFeatures) * inFeatures, "weight");
  const float* dOutput = call.floats(5, static_cast<long>(batch) * outFeatures, "dOutput");
  float* dWeight = call.floats(6, static_cast<long>(outFeatures) * inFeatures, "dWeight");
  float* dBias = call.floats(7, outFeatures, "dBias");
  float* dInput = call.isNull(8) ? nullptr : call.floats(8, static_cast<long>(batch) * inFeatures, "dInput");
  if (call.ok()) denseBackward(batch, inFeatures, outFeatures, input, weight, dOutput, dWeight, dBias, dInput);
  return nullptr;
}

napi_value ReluForward(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const int length = call.integer(0, 0);
  const float* input = call.floats(1, length, "input");
  float* output = call.floats(2, length, "output");
  if (call.ok()) reluForward(length, input, output);
  return nullptr;
}

napi_value ReluBackward(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const int length = call.integer(0, 0);
  const float* output = call.floats(1, length, "output");
  const float* dOutput = call.floats(2, length, "dOutput");
  float* dInput = call.floats(3, length, "dInput");
  if (call.ok()) reluBackward(length, output, dOutput, dInput);
  return nullptr;
}

napi_value Multiply(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const int length = call.integer(0, 0);
  const float* a = call.floats(1, length, "a");
  const float* b = call.floats(2, length, "b");
  float* output = call.floats(3, length, "output");
  if (call.ok()) multiply(length, a, b, output);
  return nullptr;
}

napi_value Scale(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const int length = call.integer(0, 0);
  float* x = call.floats(1, length, "x");
  const double factor = call.number(2);
  if (call.ok()) scale(length, x, static_cast<float>(factor));
  return nullptr;
}

napi_value SoftmaxCrossEntropy(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const int batch = call.integer(0, 0), classes = call.integer(1, 1);
  const long size = static_cast<long>(batch) * classes;
  const float* logits = call.floats(2, size, "logits");
  const float* labels = call.floats(3, batch, "labels");
  float* probabilities = call.floats(4, size, "probabilities");
  float* dLogits = call.floats(5, size, "dLogits");
  const double gradientScale = call.number(6);
  float* result = call.floats(7, 2, "result");
  if (!call.ok()) return nullptr;
  // NOTE: a label outside 0..classes-1 would index outside its row.
  for (int n = 0; n < batch; n++) {
    if (!(labels[n] >= 0 && labels[n] < classes && labels[n] == static_cast<float>(static_cast<int>(labels[n])))) {
      call.fail("BAD_ARGUMENT", "native kernels: label " + std::to_string(labels[n]) + " is not a class index below " + std::to_string(classes));
      return nullptr;
    }
  }
  softmaxCrossEntropy(batch, classes, logits, labels, probabilities, dLogits, gradientScale, result);
  return nullptr;
}

napi_value SgdUpdate(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const int length = call.integer(0, 0);
  float* params = call.floats(1, length, "params");
  const float* grads = call.floats(2, length, "grads");
  float* velocity = call.floats(3, length, "velocity");
  const double learningRate = call.number(4), momentum = call.number(5), nesterov = call.number(6);
  if (call.ok()) sgdUpdate(length, params, grads, velocity, static_cast<float>(learningRate), static_cast<float>(momentum), nesterov != 0);
  return nullptr;
}

napi_value AdadeltaUpdate(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const int length = call.integer(0, 0);
  float* params = call.floats(1, length, "params");
  const float* grads = call.floats(2, length, "grads");
  float* accumulatedGrad = call.floats(3, length, "accumulatedGrad");
  float* accumulatedDelta = call.floats(4, length, "accumulatedDelta");
  const double learningRate = call.number(5), rho = call.number(6), epsilon = call.number(7);
  if (call.ok()) adadeltaUpdate(length, params, grads, accumulatedGrad, accumulatedDelta, learningRate, rho, epsilon);
  return nullptr;
}

napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const int length = call.integer(0, 0);
  float* params = call.floats(1, length, "params");
  const float* grads = call.floats(2, length, "grads");
  float* m = call.floats(3, length, "m");
  float* v = call.floats(4, length, "v");
  const double learningRate = call.number(5), beta1 = call.number(6), beta2 = call.number(7), epsilon = call.number(8), step = call.number(9);
  if (call.ok()) adamUpdate(length, params, grads, m, v, learningRate, beta1, beta2, epsilon, step);
  return nullptr;
}

/** Elements to skip from the start of a Float32Array to reach a 64-byte (cache line) boundary. */
napi_value Misalignment(napi_env env, napi_callback_info info) {
  Call call(env, info);
  float* data = call.floats(0, 0, "array");
  napi_value result = nullptr;
  if (!call.ok()) return nullptr;
  const auto address = reinterpret_cast<uintptr_t>(data);
  napi_create_int32(env, static_cast<int32_t>(((64 - address % 64) % 64) / 4), &result);
  return result;
}

napi_value Target(napi_env env, napi_callback_info) {
  napi_value result = nullptr;
  napi_create_string_utf8(env, simdName(), NAPI_AUTO_LENGTH, &result);
  return result;
}

}  // namespace

NAPI_MODULE_INIT() {
  // NOTE: an addon built for another CPU (an image built on a newer machine) would die of an
  // illegal instruction at its first kernel; refuse to load instead, so Convoy falls back.
#if defined(__x86_64__) && defined(__AVX512F__)
  if (!__builtin_cpu_supports("avx512f")) {
    napi_throw_error(env, "NATIVE_CPU_MISMATCH", "the native kernels were built for AVX-512, which this CPU lacks (rebuild them here)");
    return nullptr;
  }
#elif defined(__x86_64__) && defined(__AVX2__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    napi_throw_error(env, "NATIVE_CPU_MISMATCH", "the native kernels were built for AVX2+FMA, which this CPU lacks (rebuild them here)");
    return nullptr;
  }
#endif
  const napi_property_descriptor methods[] = {
      {"conv2dForward", nullptr, Conv2dForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackwardFilter", nullptr, Conv2dBackwardFilter, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackwardInput", nullptr, Conv2dBackwardInput, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxPool2dForward", nullptr, MaxPool2dForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxPool2dBackward", nullptr, MaxPool2dBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"avgPool2dForward", nullptr, AvgPool2dForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"avgPool2dBackward", nullptr, AvgPool2dBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"denseForward", nullptr, DenseForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"denseBackward", nullptr, DenseBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"reluForward", nullptr, ReluForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"reluBackward", nullptr, ReluBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"multiply", nullptr, Multiply, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"scale", nullptr, Scale, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"softmaxCrossEntropy", nullptr, SoftmaxCrossEntropy, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sgdUpdate", nullptr, SgdUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adadeltaUpdate", nullptr, AdadeltaUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adamUpdate", nullptr, AdamUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"misalignment", nullptr, Misalignment, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"target", nullptr, Target, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods);
  return exports;
}
