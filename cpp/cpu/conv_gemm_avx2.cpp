// AVX2 + FMA GEMM tile kernel of the fast convolutions (see conv_gemm.h and conv.cpp).
// Micro-kernel: 6 output channels x 16 output pixels in 12 ymm accumulators; per k it loads
// two vectors of the pixel panel and broadcasts six weights. The epilogue (bias, residual,
// activation) is applied to the registers before the single store of each output vector.
#include <immintrin.h>

#include <algorithm>

#include "cpu/conv_gemm.h"

namespace deblurcore {
namespace cpu {
namespace convgemm {

namespace {

constexpr int MR = kMrAvx2;
constexpr int NR = kNrAvx2;

// Value traits of apply_epilogue (epilogue.h) on 8-lane vectors.
struct Math {
  using Acc = __m256;
  using Out = __m256;
  static __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
  static __m256 mul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
  static __m256 to_acc(__m256 a) { return a; }
  static __m256 round(__m256 a) { return a; }
  static __m256 set1_out(float a) { return _mm256_set1_ps(a); }
  static __m256 positive_or(__m256 v, __m256 neg) {
    return _mm256_blendv_ps(neg, v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ));
  }
};

struct Residual {
  const float* ptr;
  __m256i mask;
  bool present() const { return ptr != nullptr; }
  __m256 load() const { return _mm256_maskload_ps(ptr, mask); }
};

// The epilogue of row r of the tile (bias, scale and shift already offset to its first row).
inline __m256 epilogue(const TileArgs& t, __m256 v, const float* bias, const float* scale,
                       const float* shift, int r, const float* res, __m256i mask) {
  return apply_epilogue<Math>(t.epi, v, _mm256_set1_ps(bias ? bias[r] : 0.f),
                              _mm256_set1_ps(scale ? scale[r] : 1.f),
                              _mm256_set1_ps(shift ? shift[r] : 0.f), Residual{res, mask});
}

template <int NV, bool kPartial>
inline void micro(const TileArgs& t, const float* a, const float* b, float* c,
                  const float* res, const float* bias, const float* scale,
                  const float* shift, int mr, const __m256i* mask) {
  __m256 acc[MR][NV];
  const int64_t ldc = t.ldc;
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      acc[r][v] = (t.accumulate && r < mr) ? _mm256_maskload_ps(c + r * ldc + 8 * v, mask[v])
                                           : _mm256_setzero_ps();

  const int64_t* boff = t.boff;
  const int64_t kc = t.kc;
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + boff[k];
    __m256 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      bv[v] = (kPartial && v == NV - 1) ? _mm256_maskload_ps(bk + 8 * v, mask[v])
                                        : _mm256_loadu_ps(bk + 8 * v);
    const float* ak = a + k * MR;
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(ak + r);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }

#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      __m256 val = acc[r][v];
      if (t.last)
        val = epilogue(t, val, bias, scale, shift, r, res ? res + r * ldc + 8 * v : nullptr,
                       mask[v]);
      _mm256_maskstore_ps(cr + 8 * v, mask[v], val);
    }
  }
}

}  // namespace

void tile_avx2(const TileArgs& t) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t j0 = 0; j0 < t.n; j0 += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, t.n - j0));
    __m256i mask[NR / 8];
    for (int v = 0; v < NR / 8; ++v)
      mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * v), iota);
    for (int64_t i0 = 0; i0 < t.M; i0 += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, t.M - i0));
      const float* a = t.a + (i0 / MR) * t.a_panel_stride;
      float* c = t.c + i0 * t.ldc + j0;
      const float* res = t.residual ? t.residual + i0 * t.ldc + j0 : nullptr;
      const float* bias = t.bias ? t.bias + i0 : nullptr;
      const float* scale = t.scale ? t.scale + i0 : nullptr;
      const float* shift = t.shift ? t.shift + i0 : nullptr;
      if (nr == 16)
        micro<2, false>(t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
      else if (nr > 8)
        micro<2, true>(t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
      else if (nr == 8)
        micro<1, false>(t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
      else
        micro<1, true>(t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
    }
  }
}

}  // namespace convgemm
}  // namespace cpu
}  // namespace deblurcore
