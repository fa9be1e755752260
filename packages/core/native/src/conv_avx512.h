// AVX-512 convolution kernels that read the image or the columns with masked loads (builds
// for CPUs with AVX-512 only; conv.cc picks them by geometry and falls back otherwise).
// Layouts as conv.cc's: columns [inChannels*kernelHeight*kernelWidth, outHeight*outWidth].
#pragma once

#include "kernels.h"

#if defined(__AVX512F__)
/** Whether col2imMasked can run `g`: a valid stride-1 convolution with rows of up to 8 vectors and windows of up to 49. */
bool maskedGatherable(const ConvGeometry& g);

/** image = col2im(columns) for one image (overwritten): each image-row vector summed from masked loads of the column rows that read it. */
void col2imMasked(const ConvGeometry& g, const float* columns, float* image);

/** Whether filterGradientDirect can run `g`: a valid stride-1 3x3 convolution of rows of at most two vectors whose depth is not whole GEMM panels. */
bool filterGradientDirectable(const ConvGeometry& g);

/** The whole batch's filter and bias gradients (accumulated into dWeight, dBias) without im2col or GEMM. */
void filterGradientDirect(const ConvGeometry& g, const float* input, const float* dOutput, float* dWeight, float* dBias);
#endif
