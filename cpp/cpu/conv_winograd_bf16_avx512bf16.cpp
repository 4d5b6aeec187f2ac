// The bf16 Winograd F(4x4, 3x3) block kernel (Precision::BF16, conv_winograd.h), for AVX-512 with
// AVX512_BF16, in namespace cpu::avx512bf16 (compiled with -mavx512bf16; the ODR rule of
// cpp/cpu/README.md applies as to every ISA file).
//
// The input and output transforms are the float ones of conv_winograd_impl.h (compiled here in
// this namespace). Only the 36 GEMMs change: the transformed input of a pair of input channels
// (2c, 2c+1) is rounded to bfloat16 (nearest, ties to even) and stored as one 32-bit pair per
// tile, V[xi][c][t]; the transformed weights come in the same pairs (transform_weights_bf16),
// and vdpbf16ps adds both products of a pair to a float accumulator, so that the GEMM runs
// half the instructions of the float one. The sums over channels, the output transform and the
// epilogue stay float.
#define DEBLURCORE_ISA avx512bf16
#define DEBLURCORE_WINOGRAD_NO_FP32_ENTRY
#include <immintrin.h>

#include "cpu/bf16_pairs_avx512bf16.h"
#include "cpu/conv_winograd_impl.h"

namespace deblurcore {
namespace cpu {
namespace avx512bf16 {
namespace wino {

// M[xi][co][t] = sum_c U[xi][co][c] . V[xi][c][t] over channel pairs c (see the top), for
// the first NV vectors of tiles.
template <int NV>
inline void gemm_bf16_vectors(const winograd::Block& b) {
  constexpr int T = kBlockTiles;
  static_assert(V == 16 && kRows == kPanel && kCols == T && NV <= kNV, "the AVX-512 blocking");
  const int64_t panels = (b.Cout + kPanel - 1) / kPanel, pairs = (b.Cin + 1) / 2;
  for (int xi = 0; xi < kPoints; ++xi) {
    prefetch_residual(b, xi);
    const float* vx = b.v + xi * (pairs * T + kSkew);
    for (int64_t p = 0; p < panels; ++p) {
      const float* up = b.u + (xi * panels + p) * pairs * kPanel;
      __m512 acc[kRows][NV];
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
      for (int64_t c = 0; c < pairs; ++c) {
        const float* bk = vx + c * T;
        __m512bh bv[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(bk + V * v);
        const float* ak = up + c * kPanel;
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r) {
          // The 32 bits of a weight pair broadcast as they are (a float load moves bits only).
          const __m512bh av = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(ak[r]));
#pragma GCC unroll 2
          for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
        }
      }
      float* mo = b.m + xi * (panels * kPanel * T + kSkew) + p * kPanel * T;
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) _mm512_storeu_ps(mo + r * T + V * v, acc[r][v]);
    }
  }
}

template <int NV>
struct Bf16Gemm {
  static void run(const winograd::Block& b) { gemm_bf16_vectors<NV>(b); }
};

inline void run_block_bf16(const winograd::Block& b) {
  constexpr int T = kBlockTiles;
  // V[xi][c][t] in 32-bit bf16 pairs of channels (2c, 2c+1), kSkew words apart; an even
  // channel waits in `even` for its partner (an odd last channel pairs with zero).
  alignas(64) float even[kPoints][T];
  const int64_t vstride = (b.Cin + 1) / 2 * T + kSkew;
  float* vw = b.v;
  transform_input(b, [&](int64_t ci, int xi, int t0, __m512 value) {
    if ((ci & 1) == 0 && ci + 1 < b.Cin) {
      _mm512_store_ps(&even[xi][t0], value);
      return;
    }
    const __m512 lo = (ci & 1) ? _mm512_load_ps(&even[xi][t0]) : value;
    const __m512 hi = (ci & 1) ? value : _mm512_setzero_ps();
    _mm512_storeu_si512(vw + xi * vstride + (ci / 2) * T + t0, bf16_pairs(lo, hi));
  });
  for_block_width<Bf16Gemm>(b);
  transform_output(b);
  if (b.stream_out) Vec::stream_fence();
}

}  // namespace wino

// The dispatch entry (conv_winograd.h).
extern const winograd::Kernel conv_winograd_bf16_kernel{wino::kBlockTiles, &wino::run_block_bf16,
                                                        wino::V};

}  // namespace avx512bf16
}  // namespace cpu
}  // namespace deblurcore
