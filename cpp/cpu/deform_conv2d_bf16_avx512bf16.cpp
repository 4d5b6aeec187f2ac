// The deformable convolution of a Precision::BF16 context, for AVX-512 with AVX512_BF16, in
// namespace cpu::avx512bf16 (compiled with -mavx512bf16; the ODR rule of cpp/cpu/README.md
// applies as to every ISA file).
//
// The sampling is the float one of deform_conv2d_impl.h (compiled here in this namespace): the
// bilinear samples and their modulation stay float. Only the product of a tile changes, as in
// the bf16 convolutions: each row of samples is rounded to bfloat16 (nearest, ties to even) in
// 32-bit pairs of consecutive k (k = tap * Cin + channel), the weights in the same pairs, and
// vdpbf16ps adds both products of a pair to a float accumulator, half the instructions of the
// float product (which is ~97 % of the op: the sampling is a few multiply-adds per sample
// against Cout per sample in the product).
#define DEBLURCORE_ISA avx512bf16
#include <immintrin.h>

#include "cpu/conv_gemm_bf16.h"
#include "cpu/deform_conv2d_impl.h"

namespace deblurcore {
namespace cpu {
namespace avx512bf16 {

namespace {

static_assert(Vec::V == 16 && kDeformNV == 4 && kNB == 64, "the AVX-512 blocking");

// c[i][0..kNB) = sum_kp a[i*lda + kp] . b[kp][0..kNB) over pairs kp < KP, i < kMR: the bf16
// form of micro_kernel (deform_conv2d_impl.h), a and b in 32-bit bf16 pairs.
inline void micro_kernel_bf16(int64_t KP, const uint32_t* a, int64_t lda, const uint32_t* b,
                              float* c, int64_t ldc) {
  __m512 acc[kDeformMR][kDeformNV];
#pragma GCC unroll 16
  for (int i = 0; i < kDeformMR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < kDeformNV; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t kp = 0; kp < KP; ++kp) {
    __m512bh bv[kDeformNV];
#pragma GCC unroll 4
    for (int j = 0; j < kDeformNV; ++j)
      bv[j] = (__m512bh)_mm512_loadu_si512(b + kp * kNB + j * Vec::V);
#pragma GCC unroll 16
    for (int i = 0; i < kDeformMR; ++i) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(int(a[i * lda + kp]));
#pragma GCC unroll 4
      for (int j = 0; j < kDeformNV; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < kDeformMR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < kDeformNV; ++j) _mm512_storeu_ps(c + i * ldc + j * Vec::V, acc[i][j]);
}

// The product of a tile with weight pairs wp[nb][kp][j] = (bf16 of k = 2kp, of k = 2kp + 1)
// of output channel nb*kNB + j (zero past Cout and past K); the tile's samples are rounded
// into the scratch first, KP words a row.
struct Bf16TileGemm {
  const uint32_t* wp;
  int64_t K, KP, n_panels, Coutp;
  int64_t scratch_floats() const { return kTile * KP; }
  void operator()(const float* samples, int64_t rows, float* ctile, float* scratch) const {
    uint32_t* a = reinterpret_cast<uint32_t*>(scratch);
    for (int64_t i = 0; i < rows; ++i) {
      const float* s = samples + i * K;
      uint32_t* d = a + i * KP;
      // 32 floats, k .. k + 31, round to 16 pairs in order (element 2m in the low half).
      for (int64_t k = 0; k < K; k += 32) {
        const int64_t n = K - k;
        const __mmask16 mlo = n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
        const __mmask16 mhi = n >= 32  ? __mmask16(0xffff)
                              : n > 16 ? __mmask16((1u << (n - 16)) - 1)
                                       : 0;
        const __m512 lo = _mm512_maskz_loadu_ps(mlo, s + k);
        const __m512 hi = _mm512_maskz_loadu_ps(mhi, s + k + 16);
        const __m512i pairs = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
        const int64_t words = n >= 32 ? 16 : (n + 1) / 2;
        _mm512_mask_storeu_epi32(d + k / 2, __mmask16((1u << words) - 1), pairs);
      }
    }
    for (int64_t nb = 0; nb < n_panels; ++nb)
      for (int64_t i0 = 0; i0 < rows; i0 += kMR)
        micro_kernel_bf16(KP, a + i0 * KP, KP, wp + nb * KP * kNB, ctile + i0 * Coutp + nb * kNB,
                          Coutp);
  }
};

}  // namespace

void deform_conv2d_bf16(int threads, const DeformConv2dParams& p, const float* x, float* xt,
                        const float* offset, const float* mask, const float* weight,
                        const float* bias, const float* residual, float* out) {
  const int64_t taps = p.kh * p.kw, C = p.Cin, K = C * taps, KP = (K + 1) / 2;
  const int64_t n_panels = (p.Cout + kNB - 1) / kNB;
  Scratch wpack(n_panels * KP * kNB);
  uint32_t* wp = reinterpret_cast<uint32_t*>(wpack.ptr);
  auto w_at = [&](int64_t co, int64_t k) {  // weight of output co at k = t*C + c, 0 outside
    return co < p.Cout && k < K ? weight[(co * C + k % C) * taps + k / C] : 0.f;
  };
#pragma omp parallel for num_threads(threads)
  for (int64_t nb = 0; nb < n_panels; ++nb)
    for (int64_t kp = 0; kp < KP; ++kp)
      for (int64_t j = 0; j < kNB; ++j) {
        const int64_t co = nb * kNB + j;
        wp[(nb * KP + kp) * kNB + j] =
            convgemm::bf16_pair_word(w_at(co, 2 * kp), w_at(co, 2 * kp + 1));
      }
  deform_conv2d_tiles(threads, p, x, xt, offset, mask,
                      Bf16TileGemm{wp, K, KP, n_panels, n_panels * kNB}, bias, residual, out);
}

}  // namespace avx512bf16
}  // namespace cpu
}  // namespace deblurcore
