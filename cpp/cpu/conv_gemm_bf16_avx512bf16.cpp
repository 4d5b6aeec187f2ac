// The bf16 tile kernel of the convolutions (conv_gemm_bf16.h), for AVX-512 with AVX512_BF16,
// in namespace cpu::avx512bf16 (compiled with -mavx512bf16 on top of the AVX-512 flags; the
// ODR rule of cpp/cpu/README.md applies as to every ISA file).
//
// Micro-kernel: kMR output channels x kNV vectors of 16 output pixels in float accumulators; per
// packed row k (a pair of input channels at one tap) it loads kNV vectors of 16 bf16 pairs of
// the patch and broadcasts the kMR weight pairs, and vdpbf16ps adds both products of a pair to
// each accumulator: 32 multiply-adds per instruction where the float kernel
// (conv_gemm_tile.h) does 16. The float epilogue of epilogue.h is applied before the single
// store, exactly as in the float kernel. Same 8 x 32 blocking as the float AVX-512 kernel.
#define DEBLURCORE_ISA avx512bf16
#include <immintrin.h>

#include <cstdint>

#include "cpu/bf16_pairs_avx512bf16.h"
#include "cpu/conv_gemm_bf16.h"
#include "cpu/simd.h"
#include "epilogue.h"

namespace deblurcore {
namespace cpu {
namespace avx512bf16 {

constexpr int kMR = 8;
constexpr int kNV = 2;
constexpr int kNR = kNV * 16;
// At most kSmallMR output channels: a tile of exactly those rows over kSmallNV vectors, as in
// the float kernel (conv_gemm_tile.h).
constexpr int kSmallMR = kMR / 2;
constexpr int kSmallNV = 4;
constexpr int kSmallNR = kSmallNV * 16;

// Pairs of bf16 as the dot-product instruction takes them.
inline __m512bh as_pairs(__m512i v) { return (__m512bh)v; }

// Rows [0, mr) of the tile, computing ROWS rows (mr <= ROWS <= kMR); a: kc groups of kMR
// weight pairs.
template <int ROWS, int NV, bool kPartial>
inline void micro(const convgemm::TileArgs& t, const float* a, const float* b, float* c,
                  const float* res, const float* bias, const float* scale, const float* shift,
                  int mr, const Vec::mask* mask) {
  constexpr int MR = ROWS, V = 16;
  __m512 acc[MR][NV];
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
    __m512bh bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      bv[v] = as_pairs((kPartial && v == NV - 1) ? _mm512_maskz_loadu_epi32(mask[v], bk + V * v)
                                                 : _mm512_loadu_si512(bk + V * v));
    const float* ak = a + k * kMR;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      // The 32 bits of a weight pair broadcast as they are (a float load moves bits only).
      const __m512bh av = as_pairs(_mm512_castps_si512(_mm512_set1_ps(ak[r])));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
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

template <int ROWS, int NV>
inline void micro_any(int nv, bool partial, const convgemm::TileArgs& t, const float* a,
                      const float* b, float* c, const float* res, const float* bias,
                      const float* scale, const float* shift, int mr, const Vec::mask* mask) {
  if (nv == NV) {
    if (partial)
      micro<ROWS, NV, true>(t, a, b, c, res, bias, scale, shift, mr, mask);
    else
      micro<ROWS, NV, false>(t, a, b, c, res, bias, scale, shift, mr, mask);
  } else if constexpr (NV > 1) {
    micro_any<ROWS, NV - 1>(nv, partial, t, a, b, c, res, bias, scale, shift, mr, mask);
  }
}

// The tile of a convolution with M <= kSmallMR output channels: exactly ROWS = M rows.
template <int ROWS>
void tile_small(const convgemm::TileArgs& t) {
  if constexpr (ROWS > 1)
    if (t.M < ROWS) return tile_small<ROWS - 1>(t);
  constexpr int V = 16;
  for (int64_t j0 = 0; j0 < t.n; j0 += kSmallNR) {
    const int nr = static_cast<int>(t.n - j0 < kSmallNR ? t.n - j0 : kSmallNR);
    Vec::mask mask[kSmallNV];
    for (int v = 0; v < kSmallNV; ++v) mask[v] = Vec::tail_mask(nr - V * v);
    micro_any<ROWS, kSmallNV>((nr + V - 1) / V, nr % V != 0, t, t.a, t.b + j0, t.c + j0,
                              t.residual ? t.residual + j0 : nullptr, t.bias, t.scale, t.shift,
                              ROWS, mask);
  }
}

// The tile kernel (convgemm::TileArgs, with a, b and kc in bf16 pairs).
void conv_gemm_bf16_tile(const convgemm::TileArgs& t) {
  constexpr int MR = kMR, NR = kNR, V = 16;
  if (t.M <= kSmallMR) return tile_small<kSmallMR>(t);
  for (int64_t j0 = 0; j0 < t.n; j0 += NR) {
    const int nr = static_cast<int>(t.n - j0 < NR ? t.n - j0 : NR);
    Vec::mask mask[kNV];
    for (int v = 0; v < kNV; ++v) mask[v] = Vec::tail_mask(nr - V * v);
    const int nv = (nr + V - 1) / V;
    const bool partial = nr % V != 0;
    // The next column panel's residual into L2, as the float tile kernel does
    // (conv_gemm_tile.h).
    if (t.last && t.residual && j0 + NR < t.n) {
      const int64_t end = t.n - j0 - NR < NR ? t.n : j0 + 2 * NR;
      for (int64_t m = 0; m < t.M; ++m)
        prefetch_l2(t.residual + m * t.ldc + j0 + NR, t.residual + m * t.ldc + end);
    }
    for (int64_t i0 = 0; i0 < t.M; i0 += MR) {
      const int mr = static_cast<int>(t.M - i0 < MR ? t.M - i0 : MR);
      const float* a = t.a + (i0 / MR) * t.a_panel_stride;
      float* c = t.c + i0 * t.ldc + j0;
      const float* res = t.residual ? t.residual + i0 * t.ldc + j0 : nullptr;
      const float* bias = t.bias ? t.bias + i0 : nullptr;
      const float* scale = t.scale ? t.scale + i0 : nullptr;
      const float* shift = t.shift ? t.shift + i0 : nullptr;
      micro_any<kMR, kNV>(nv, partial, t, a, t.b + j0, c, res, bias, scale, shift, mr, mask);
    }
  }
}

// TileKernel::pair_run: 16 pairs per step, the tail through the scalar rounding.
void bf16_pair_run(const float* lo, const float* hi, int64_t n, uint32_t* out) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    _mm512_storeu_si512(out + j, bf16_pairs(_mm512_loadu_ps(lo + j), _mm512_loadu_ps(hi + j)));
  for (; j < n; ++j) out[j] = convgemm::bf16_pair_word(lo[j], hi[j]);
}

// The dispatch entry (conv_gemm_bf16.h).
extern const convgemm::TileKernel conv_gemm_bf16_kernel{kMR, kNR, &conv_gemm_bf16_tile, 2,
                                                        &bf16_pair_run};

}  // namespace avx512bf16
}  // namespace cpu
}  // namespace deblurcore
