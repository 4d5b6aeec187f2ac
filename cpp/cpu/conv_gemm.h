// Internal interface between the convolution driver (cpp/cpu/conv.cpp, compiled for any
// x86-64) and the per-instruction-set GEMM tile kernels (conv_gemm_avx2.cpp,
// conv_gemm_avx512.cpp, compiled with those ISA flags). Only plain declarations and constants
// live here: no ISA intrinsics, so every translation unit sees the same definitions.
#pragma once

#include <cstdint>

#include "epilogue.h"

namespace deblurcore {
namespace cpu {
namespace convgemm {

// Register blocking of each tile kernel: MR output channels x NR output pixels per
// micro-kernel call (fewer columns, masked, at the end of a row). Packed weights come in
// MR-row panels.
constexpr int kMrAvx512 = 8, kNrAvx512 = 32;  // 8 x 2 zmm accumulators
constexpr int kMrAvx2 = 6, kNrAvx2 = 16;      // 6 x 2 ymm accumulators
constexpr int kMrGeneric = 4, kNrGeneric = 16;

// One GEMM tile: C[m, j] (+)= sum_{k < kc} A[m, k] * B[k, j] for m < M, j < n, followed on the
// last K block by the fused epilogue of the convolution:
// apply_epilogue (epilogue.h) with the bias, scale and shift of row m.
struct TileArgs {
  // Packed weights at the first k of this K block: panel i (rows i*MR .. i*MR+MR-1) starts at
  // a + i * a_panel_stride and holds kc groups of MR floats (k-major). Rows past M are zero.
  const float* a;
  int64_t a_panel_stride;
  // kc rows of n pixels: row k starts at b + boff[k] (any alignment; only the first n
  // floats of a row are read).
  const float* b;
  const int64_t* boff;
  float* c;                 // row m at c + m * ldc
  int64_t ldc;
  const float* residual;    // laid out like c, or null; read only when `last`
  const float* bias;        // M values or null; read only when `last`
  const float* scale;       // M values (this image's row of the (N, Cout) scale) or null
  const float* shift;       // likewise
  int64_t M, n, kc;
  bool accumulate;          // add to the values already in C (K blocks after the first)
  bool last;                // apply the epilogue (the last K block)
  EpilogueParams epi;        // activation and residual position; epi.scale / epi.shift
                            // only say whether `scale` / `shift` are set
};

void tile_avx512(const TileArgs& t);
void tile_avx2(const TileArgs& t);

}  // namespace convgemm
}  // namespace cpu
}  // namespace deblurcore
