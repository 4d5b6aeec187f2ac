// Pairs of bfloat16 from two float vectors with AVX512_BF16, shared by the bf16 kernels of
// namespace cpu::avx512bf16 (included only by files compiled for it, see cpp/cpu/README.md).
#pragma once

#include <immintrin.h>

namespace deblurcore {
namespace cpu {
namespace avx512bf16 {

// 16 lanes of 32-bit pairs: bf16(lo[j]) in the low half, bf16(hi[j]) in the high half, each
// rounded to nearest, ties to even, as convgemm::bf16_pair_word does (the instruction also
// reads a denormal input as zero).
inline __m512i bf16_pairs(__m512 lo, __m512 hi) {
  // cvtne2ps gives bf16(lo) in elements 0..15 and bf16(hi) in 16..31; interleave them.
  const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

}  // namespace avx512bf16
}  // namespace cpu
}  // namespace deblurcore
