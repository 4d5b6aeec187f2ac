// AVX-512 GEMM tile kernel of the fast convolutions (see conv_gemm.h and conv.cpp).
// Micro-kernel: 8 output channels x 32 output pixels in 16 zmm accumulators; per k it loads
// two vectors of the pixel panel and broadcasts eight weights (embedded-broadcast FMAs). 32
// columns divide the models' image widths (1280, 640, 320, 160), and on the measured CPU this
// blocking ran faster than 8x48, 12x32 and 14x32. The epilogue (bias, residual, activation)
// is applied to the registers before the single store of each output vector.
#include <immintrin.h>

#include <algorithm>

#include "cpu/conv_gemm.h"

namespace deblurcore {
namespace cpu {
namespace convgemm {

namespace {

constexpr int MR = kMrAvx512;
constexpr int NR = kNrAvx512;

// Value traits of apply_epilogue (epilogue.h) on 16-lane vectors.
struct Math {
  using Acc = __m512;
  using Out = __m512;
  static __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
  static __m512 mul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
  static __m512 to_acc(__m512 a) { return a; }
  static __m512 round(__m512 a) { return a; }
  static __m512 set1_out(float a) { return _mm512_set1_ps(a); }
  static __m512 positive_or(__m512 v, __m512 neg) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), neg, v);
  }
};

struct Residual {
  const float* ptr;
  __mmask16 mask;
  bool present() const { return ptr != nullptr; }
  __m512 load() const { return _mm512_maskz_loadu_ps(mask, ptr); }
};

// The epilogue of row r of the tile (bias, scale and shift already offset to its first row).
inline __m512 epilogue(const TileArgs& t, __m512 v, const float* bias, const float* scale,
                       const float* shift, int r, const float* res, __mmask16 mask) {
  return apply_epilogue<Math>(t.epi, v, _mm512_set1_ps(bias ? bias[r] : 0.f),
                              _mm512_set1_ps(scale ? scale[r] : 1.f),
                              _mm512_set1_ps(shift ? shift[r] : 0.f), Residual{res, mask});
}

// NV vectors of 16 pixels per row (NR/16 normally, fewer for the last columns of a row).
template <int NV, bool kPartial>
inline void micro(const TileArgs& t, const float* a, const float* b, float* c,
                  const float* res, const float* bias, const float* scale,
                  const float* shift, int mr, const __mmask16* mask) {
  __m512 acc[MR][NV];
  const int64_t ldc = t.ldc;
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v)
      acc[r][v] = (t.accumulate && r < mr) ? _mm512_maskz_loadu_ps(mask[v], c + r * ldc + 16 * v)
                                           : _mm512_setzero_ps();

  const int64_t* boff = t.boff;
  const int64_t kc = t.kc;
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + boff[k];
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v)
      bv[v] = (kPartial && v == NV - 1) ? _mm512_maskz_loadu_ps(mask[v], bk + 16 * v)
                                        : _mm512_loadu_ps(bk + 16 * v);
    const float* ak = a + k * MR;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(ak[r]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }

#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      __m512 val = acc[r][v];
      if (t.last)
        val = epilogue(t, val, bias, scale, shift, r, res ? res + r * ldc + 16 * v : nullptr,
                       mask[v]);
      _mm512_mask_storeu_ps(cr + 16 * v, mask[v], val);
    }
  }
}

}  // namespace

void tile_avx512(const TileArgs& t) {
  for (int64_t j0 = 0; j0 < t.n; j0 += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, t.n - j0));
    __mmask16 mask[NR / 16];
    for (int v = 0; v < NR / 16; ++v) {
      const int rem = nr - 16 * v;
      mask[v] = rem >= 16 ? __mmask16(0xFFFF) : rem <= 0 ? __mmask16(0)
                                                         : __mmask16((1u << rem) - 1u);
    }
    const int nv = (nr + 15) / 16;
    for (int64_t i0 = 0; i0 < t.M; i0 += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, t.M - i0));
      const float* a = t.a + (i0 / MR) * t.a_panel_stride;
      float* c = t.c + i0 * t.ldc + j0;
      const float* res = t.residual ? t.residual + i0 * t.ldc + j0 : nullptr;
      const float* bias = t.bias ? t.bias + i0 : nullptr;
      const float* scale = t.scale ? t.scale + i0 : nullptr;
      const float* shift = t.shift ? t.shift + i0 : nullptr;
      const bool partial = nr % 16 != 0;
      if constexpr (NR / 16 == 3) {
        if (nv == 3) {
          if (partial)
            micro<3, true>(t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
          else
            micro<3, false>(t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
          continue;
        }
      }
      if (nv == 2 && !partial)
        micro<2, false>(t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
      else if (nv == 2)
        micro<2, true>(t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
      else if (!partial)
        micro<1, false>(t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
      else
        micro<1, true>(t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
    }
  }
}

}  // namespace convgemm
}  // namespace cpu
}  // namespace deblurcore
