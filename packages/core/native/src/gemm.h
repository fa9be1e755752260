// Single-precision GEMM with strided operands (the native backend's one matrix product):
//   C[i][j] (+)= sum_k A[i][k] * B[k][j]     i < m, j < n, k < depth
//   A[i][k] = a[i*aRow + k*aCol], B[k][j] = b[k*bRow + j*bCol], C[i][j] = c[i*cRow + j*cCol]
// so the transposed products of the backward passes need no transposed copies. The conv
// products below pack the image's columns (gemm.cc) or read them in place (conv_products.cc).
#pragma once

void gemm(int m, int n, int depth, const float* a, long aRow, long aCol, const float* b, long bRow, long bCol, float* c, long cRow,
          long cCol, bool accumulate);

struct ConvGeometry;

/** Whether gemmImageColumns can run `g` (else: im2col, then gemm). */
bool imageColumnsPackable(const ConvGeometry& g);

/**
 * C[i][p] = rowBias[i] + sum_k A[i][k] * columns[k][p] for one image, where columns is the
 * image's im2col matrix (conv.cc's layout), packed from the image directly: no columns
 * buffer pass, and the bias starts the register sums (no pass filling C with it).
 * A[i][k] = a[i*aRow + k], C[i][p] = c[i*cRow + p]. With `relu`, max(0, C) is stored.
 */
void gemmImageColumns(int m, const float* a, long aRow, const ConvGeometry& g, const float* image, const float* rowBias, float* c, long cRow, bool relu);

/** Whether gemmImageColumnsTransposed can run `g` (else: im2col, then gemm). */
bool imageColumnsTransposable(const ConvGeometry& g);

/**
 * C[i][k] += sum_p A[i][p] * columns[k][p] for one image (the conv filter gradient), the
 * transposed columns packed from the image directly. A[i][p] = a[i*aRow + p], C[i][k] = c[i*cRow + k].
 */
void gemmImageColumnsTransposed(int m, const float* a, long aRow, const ConvGeometry& g, const float* image, float* c, long cRow);

#if defined(__AVX512F__)
/** Whether convForwardInPlace can run `g`: packable, output rows whole runs of 8, positions whole WIDE tiles, the packed weight within the workspace. */
bool imageColumnsReadable(const ConvGeometry& g);

/**
 * The conv forward of the whole batch (output = bias + weight x columns, per image) with B
 * loaded from the image rows by the micro-kernel (runs of 8 of an output row) instead of
 * packed panels, and the weight packed once per call. NOTE: packing the image's columns
 * (a copy of the whole 288x576 matrix per image) was a fifth of conv2's forward.
 * With `relu` the tiles store max(0, output) (the ReLU that follows, without its own pass).
 */
void convForwardInPlace(const ConvGeometry& g, const float* input, const float* weight, const float* bias, float* output, bool relu);

/** Whether filterGradientByDepths can run `g`: packable, 64 output channels, a depth of whole 6-row tiles (AVX-512 builds only). */
bool filterGradientByDepthsRunnable(const ConvGeometry& g);

/**
 * dWeight[o][k] += sum over the batch's images and positions p of dOutput[n][o][p] * columns_n[k][p],
 * dBias[o] += sum of dOutput[n][o][p] (the conv filter gradient of the whole batch), as the transposed product
 * C^T[k][o]: the columns' values broadcast straight from the image, dOutput^T packed per
 * image, the sums kept transposed in the workspace and added into dWeight once.
 */
void filterGradientByDepths(const ConvGeometry& g, const float* input, const float* dOutput, float* dWeight, float* dBias);
#endif

/** Whether columnsProduct can run: positions whole WIDE tiles, the packed weight within the workspace. */
bool columnsProductRunnable(int depth, int positions, int outChannels);

/** Packs weight^T (weight [outChannels][depth]) for columnsProduct, in this thread's workspace (valid until its next product). */
const float* packTransposedWeight(int depth, int outChannels, const float* weight);

/**
 * columns[k][p] = sum_o weight[o][k] * dOut[o][p] for one image (the conv input gradient's
 * product), the weight packed once per call by packTransposedWeight and dOut read in place
 * as B: gemm would pack both for every image.
 */
void columnsProduct(int depth, int positions, int outChannels, const float* packedWeight, const float* dOut, float* columns);
