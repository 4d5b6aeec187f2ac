// The GEMM tile kernel of the fast convolutions, written once against the vector traits of
// cpu/simd.h and compiled per instruction set by conv_gemm_generic.cpp, conv_gemm_avx2.cpp and
// conv_gemm_avx512.cpp (each defines DEBLURCORE_ISA first, so all of this lands in that ISA's
// namespace; see cpp/cpu/README.md).
//
// Micro-kernel: kConvMR output channels x kConvNV vectors of output pixels in registers; per k
// it loads kConvNV vectors of the pixel panel and broadcasts kConvMR weights. The epilogue of
// epilogue.h is applied to the registers before the single store of each output vector.
// AVX-512: 8 x 32 in 16 zmm accumulators (32 columns divide the models' image widths, and on the
// measured CPU this ran faster than 8x48, 12x32 and 14x32); AVX2: 6 x 16 in 12 ymm; generic:
// 4 x 16.
#pragma once

#include <cstdint>

#include "cpu/conv_gemm.h"
#include "cpu/simd.h"
#include "epilogue.h"

namespace deblurcore {
namespace cpu {
namespace DEBLURCORE_ISA {

constexpr int kConvMR = Vec::V == 16 ? 8 : Vec::V == 8 ? 6 : 4;
constexpr int kConvNV = Vec::V == 4 ? 4 : 2;
constexpr int kConvNR = kConvNV * Vec::V;

// Convolutions with at most kSmallMR output channels (the models' last convolution has 3) run
// a micro-kernel of exactly their rows and kSmallNV vectors of pixels instead: a full
// kConvMR-row tile would mostly multiply the zero rows of the packed weights (5 of 8 for 3
// channels). Its accumulators, pixel vectors and broadcast fit the registers (AVX-512: 4 x 4 of
// 32 zmm, AVX2: 3 x 3 of 16 ymm).
constexpr int kSmallMR = kConvMR / 2;
constexpr int kSmallNV = Vec::V == 8 ? 3 : 4;
constexpr int kSmallNR = kSmallNV * Vec::V;

// Rows [0, mr) of a tile of NV vectors per row, computing ROWS rows (mr <= ROWS <= kConvMR);
// kPartial: the last vector is masked. a: kc groups of kConvMR weights; b: the pixel rows
// (through t.boff); c, res: row r at r * t.ldc; bias, scale, shift: the tile's first row, or
// null.
template <int ROWS, int NV, bool kPartial>
inline void conv_micro(const convgemm::TileArgs& t, const float* a, const float* b, float* c,
                       const float* res, const float* bias, const float* scale, const float* shift,
                       int mr, const Vec::mask* mask) {
  constexpr int MR = ROWS, V = Vec::V;
  Vec::v acc[MR][NV];
  const int64_t ldc = t.ldc;
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      acc[r][v] = (t.accumulate && r < mr) ? Vec::load(c + r * ldc + V * v, mask[v]) : Vec::zero();

  const int64_t* boff = t.boff;
  const int64_t kc = t.kc;
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + boff[k];
    Vec::v bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      bv[v] = (kPartial && v == NV - 1) ? Vec::load(bk + V * v, mask[v]) : Vec::load(bk + V * v);
    const float* ak = a + k * kConvMR;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const Vec::v av = Vec::set1(ak[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = Vec::fmadd(av, bv[v], acc[r][v]);
    }
  }

#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      Vec::v val = acc[r][v];
      if (t.last)
        val = apply_epilogue<Vec>(t.epi, val, Vec::set1(bias ? bias[r] : 0.f),
                                  Vec::set1(scale ? scale[r] : 1.f),
                                  Vec::set1(shift ? shift[r] : 0.f),
                                  VecResidual{res ? res + r * ldc + V * v : nullptr, mask[v]});
      Vec::store(cr + V * v, mask[v], val);
    }
  }
}

// conv_micro for the nv (1..NV) vectors a row of the tile actually has.
template <int ROWS, int NV>
inline void conv_micro_any(int nv, bool partial, const convgemm::TileArgs& t, const float* a,
                           const float* b, float* c, const float* res, const float* bias,
                           const float* scale, const float* shift, int mr, const Vec::mask* mask) {
  if (nv == NV) {
    if (partial)
      conv_micro<ROWS, NV, true>(t, a, b, c, res, bias, scale, shift, mr, mask);
    else
      conv_micro<ROWS, NV, false>(t, a, b, c, res, bias, scale, shift, mr, mask);
  } else if constexpr (NV > 1) {
    conv_micro_any<ROWS, NV - 1>(nv, partial, t, a, b, c, res, bias, scale, shift, mr, mask);
  }
}

// The tile of a convolution with M <= kSmallMR output channels: conv_micro of exactly
// ROWS = M rows over kSmallNR pixels at a time.
template <int ROWS>
void conv_gemm_tile_small(const convgemm::TileArgs& t) {
  if constexpr (ROWS > 1)
    if (t.M < ROWS) return conv_gemm_tile_small<ROWS - 1>(t);
  constexpr int V = Vec::V;
  for (int64_t j0 = 0; j0 < t.n; j0 += kSmallNR) {
    const int nr = static_cast<int>(t.n - j0 < kSmallNR ? t.n - j0 : kSmallNR);
    Vec::mask mask[kSmallNV];
    for (int v = 0; v < kSmallNV; ++v) mask[v] = Vec::tail_mask(nr - V * v);
    conv_micro_any<ROWS, kSmallNV>((nr + V - 1) / V, nr % V != 0, t, t.a, t.b + j0, t.c + j0,
                                   t.residual ? t.residual + j0 : nullptr, t.bias, t.scale, t.shift,
                                   ROWS, mask);
  }
}

// The tile kernel (see convgemm::TileArgs).
void conv_gemm_tile(const convgemm::TileArgs& t) {
  constexpr int MR = kConvMR, NR = kConvNR, V = Vec::V;
  if (t.M <= kSmallMR) return conv_gemm_tile_small<kSmallMR>(t);
  for (int64_t j0 = 0; j0 < t.n; j0 += NR) {
    const int nr = static_cast<int>(t.n - j0 < NR ? t.n - j0 : NR);
    Vec::mask mask[kConvNV];
    for (int v = 0; v < kConvNV; ++v) mask[v] = Vec::tail_mask(nr - V * v);
    const int nv = (nr + V - 1) / V;
    // The residual of the next column panel, read by the epilogue of every row of it: M short
    // runs of NR floats, ldc apart, which the hardware prefetcher does not see coming.
    if (t.last && t.residual && j0 + NR < t.n) {
      const int64_t end = t.n - j0 - NR < NR ? t.n : j0 + 2 * NR;
      for (int64_t m = 0; m < t.M; ++m)
        prefetch_l2(t.residual + m * t.ldc + j0 + NR, t.residual + m * t.ldc + end);
    }
    const bool partial = nr % V != 0;
    for (int64_t i0 = 0; i0 < t.M; i0 += MR) {
      const int mr = static_cast<int>(t.M - i0 < MR ? t.M - i0 : MR);
      const float* a = t.a + (i0 / MR) * t.a_panel_stride;
      float* c = t.c + i0 * t.ldc + j0;
      const float* res = t.residual ? t.residual + i0 * t.ldc + j0 : nullptr;
      const float* bias = t.bias ? t.bias + i0 : nullptr;
      const float* scale = t.scale ? t.scale + i0 : nullptr;
      const float* shift = t.shift ? t.shift + i0 : nullptr;
      conv_micro_any<kConvMR, kConvNV>(nv, partial, t, a, t.b + j0, c, res, bias, scale, shift, mr,
                                       mask);
    }
  }
}

// This instruction set's entry of the dispatch table (conv_gemm.h).
extern const convgemm::TileKernel conv_gemm_kernel{kConvMR, kConvNR, &conv_gemm_tile, 1};

}  // namespace DEBLURCORE_ISA
}  // namespace cpu
}  // namespace deblurcore
