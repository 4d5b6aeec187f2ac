// A branch-free float exp the compiler vectorises, for the kernels that need one per element
// (sigmoid, softmax: exp_kernels_impl.h). The C library's expf is a call per element that no
// loop vectorises; this one is a handful of multiplies and adds per lane. Like simd.h it is
// compiled per instruction set, in namespace cpu::DEBLURCORE_ISA (the ODR rule of README.md).
// No fused multiply-add is assumed (the library is compiled without contraction), so every
// instruction set computes the same bits.
//
// exp(t) = 2^n * exp(r), n = round(t / ln 2), r = t - n ln 2 in [-ln2/2, ln2/2], with ln 2 split
// into a high part of 9 significant bits (n * kLn2Hi is exact for |n| <= 2^15) and the rest
// (Cody and Waite), and exp(r) = 1 + r + r^2 P(r), P the degree-5 polynomial of Cephes' expf.
// Measured over every float t in [-104, 89] against exp in double: relative error at most
// 1.6 units of roundoff (2^-24) where the result is normal. 2^n is applied as two powers of two
// 2^(n/2) 2^(n - n/2), so that results near the overflow threshold (n = 128) and subnormal
// results (n down to -150) come out right. t is clamped to [-104, 89] first: below, exp(t)
// rounds to 0 (exp(-104) < 2^-150); above, it overflows to +inf. NaN stays NaN.
#pragma once

#ifndef DEBLURCORE_ISA
#error "define DEBLURCORE_ISA (generic, avx2 or avx512) before including cpu/vector_exp.h"
#endif

#include <cstdint>
#include <cstring>

namespace deblurcore {
namespace cpu {
namespace DEBLURCORE_ISA {

// 2^n for -126 <= n <= 127, by building the float's exponent field (unsigned arithmetic: for a
// NaN argument n is meaningless and the result is multiplied into a NaN anyway).
inline float pow2i(int32_t n) {
  const uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// c ? a : b as a blend of bit patterns. Written as a conditional, the compiler may duplicate the
// code after it into both branches, and then cannot vectorise the loop without assuming that
// float arithmetic never traps.
inline float select_bits(bool c, float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  const int32_t m = -static_cast<int32_t>(c);
  const int32_t r = (ia & m) | (ib & ~m);
  float f;
  std::memcpy(&f, &r, sizeof f);
  return f;
}

inline float vector_exp(float t) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.f;     // 1.5 * 2^23: adding it rounds to an integer
  t = select_bits(t < -104.f, -104.f, t);  // comparisons false for NaN: NaN passes through
  t = select_bits(t > 89.f, 89.f, t);
  const float shifted = t * kLog2e + kRound;  // n in the low bits of its significand
  const float nf = shifted - kRound;
  float r = t - nf * kLn2Hi;
  r = r - nf * kLn2Lo;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = (p * r2 + r) + 1.f;
  // n from the bits rather than by a float-to-int conversion, which would be undefined for NaN.
  int32_t shifted_bits, round_bits;
  std::memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
  std::memcpy(&round_bits, &kRound, sizeof round_bits);
  const int32_t n = shifted_bits - round_bits;
  const int32_t half = n >> 1;
  return (e * pow2i(half)) * pow2i(n - half);
}

}  // namespace DEBLURCORE_ISA
}  // namespace cpu
}  // namespace deblurcore
