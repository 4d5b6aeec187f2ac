// The vector traits every SIMD kernel is written against, one definition per instruction set:
// `Vec` in the namespace cpu::DEBLURCORE_ISA of the including file (cpu::generic, cpu::avx2 or
// cpu::avx512; see isa.h and cpp/cpu/README.md). Kernel headers (conv_gemm_tile.h,
// deform_conv2d_impl.h, fac_impl.h) are written once against Vec and compiled per instruction
// set by an ISA file that defines DEBLURCORE_ISA and includes them.
//
// Vec: V float lanes of type Vec::v; Vec::mask selects lanes (tail handling); the arithmetic
// used by the kernels, and the value traits of apply_epilogue (epilogue.h: Acc, Out, add, mul,
// to_acc, round, set1_out, positive_or).
//
// ODR rule: everything defined here and in the kernel headers is inside cpu::DEBLURCORE_ISA, so
// the code of each instruction set consists of distinct symbols; nothing compiled with AVX
// flags can be chosen by the linker for another file. See the README for what ISA files must
// not call.
#pragma once

#ifndef DEBLURCORE_ISA
#error "define DEBLURCORE_ISA (generic, avx2 or avx512) before including cpu/simd.h"
#endif

#include <cstdint>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace deblurcore {
namespace cpu {
namespace DEBLURCORE_ISA {

#if defined(__AVX512F__)
struct Vec {
  static constexpr int V = 16;
  using v = __m512;
  using mask = __mmask16;
  static v zero() { return _mm512_setzero_ps(); }
  static v set1(float a) { return _mm512_set1_ps(a); }
  static v load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, v a) { _mm512_storeu_ps(p, a); }
  static v add(v a, v b) { return _mm512_add_ps(a, b); }
  static v mul(v a, v b) { return _mm512_mul_ps(a, b); }
  static v fmadd(v a, v b, v c) { return _mm512_fmadd_ps(a, b, c); }
  static v sub(v a, v b) { return _mm512_sub_ps(a, b); }
  static v fmsub(v a, v b, v c) { return _mm512_fmsub_ps(a, b, c); }  // a b - c
  // Lanes [0, n) of a vector (n may be <= 0 or >= V).
  static mask tail_mask(int n) {
    return n >= V ? mask(0xFFFF) : n <= 0 ? mask(0) : mask((1u << n) - 1u);
  }
  static v load(const float* p, mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, mask m, v a) { _mm512_mask_storeu_ps(p, m, a); }
  // Non-temporal store of a full vector to a kStreamAlign-aligned address (write-combined,
  // bypassing the caches: no read of the line before it is written); stream_fence() orders
  // such stores before anything the thread does next.
  static constexpr int kStreamAlign = 64;
  static void stream(float* p, v a) { _mm512_stream_ps(p, a); }
  static void stream_fence() { _mm_sfence(); }
  static v positive_or(v a, v neg) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, zero(), _CMP_GT_OQ), neg, a);
  }
  // 4 x V <-> V x 4 transposes (Winograd tiles): interleave4 writes p[4*t + j] = in[j][t]
  // for t < V; deinterleave4 is its inverse, out[j][t] = p[4*t + j]. Both are a 4x4
  // transpose inside each 128-bit lane and a 4x4 transpose of the 128-bit lanes.
  static void transpose_in_lanes(v& a, v& b, v& c, v& d) {
    const v t0 = _mm512_unpacklo_ps(a, b), t1 = _mm512_unpackhi_ps(a, b);
    const v t2 = _mm512_unpacklo_ps(c, d), t3 = _mm512_unpackhi_ps(c, d);
    a = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    b = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    c = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    d = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
  }
  static void transpose_lanes(v& a, v& b, v& c, v& d) {
    const v g0 = _mm512_shuffle_f32x4(a, b, 0x44), g1 = _mm512_shuffle_f32x4(c, d, 0x44);
    const v g2 = _mm512_shuffle_f32x4(a, b, 0xEE), g3 = _mm512_shuffle_f32x4(c, d, 0xEE);
    a = _mm512_shuffle_f32x4(g0, g1, 0x88);
    b = _mm512_shuffle_f32x4(g0, g1, 0xDD);
    c = _mm512_shuffle_f32x4(g2, g3, 0x88);
    d = _mm512_shuffle_f32x4(g2, g3, 0xDD);
  }
  static void interleave4(const v* in, float* p) {
    v a = in[0], b = in[1], c = in[2], d = in[3];
    transpose_in_lanes(a, b, c, d);
    transpose_lanes(a, b, c, d);
    store(p, a), store(p + 16, b), store(p + 32, c), store(p + 48, d);
  }
  // Lanes 1 .. V-1 of lo, then lane 0 of hi (the vector one lane further on).
  static v next_lane(v lo, v hi) {
    return _mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_castps_si512(hi), _mm512_castps_si512(lo), 1));
  }
  static void deinterleave4(const float* p, v* out) {
    v a = load(p), b = load(p + 16), c = load(p + 32), d = load(p + 48);
    transpose_lanes(a, b, c, d);
    transpose_in_lanes(a, b, c, d);
    out[0] = a, out[1] = b, out[2] = c, out[3] = d;
  }
  // apply_epilogue's value traits.
  using Acc = v;
  using Out = v;
  static v to_acc(v a) { return a; }
  static v round(v a) { return a; }
  static v set1_out(float a) { return set1(a); }
};
#elif defined(__AVX2__)
struct Vec {
  static constexpr int V = 8;
  using v = __m256;
  using mask = __m256i;
  static v zero() { return _mm256_setzero_ps(); }
  static v set1(float a) { return _mm256_set1_ps(a); }
  static v load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, v a) { _mm256_storeu_ps(p, a); }
  static v add(v a, v b) { return _mm256_add_ps(a, b); }
  static v mul(v a, v b) { return _mm256_mul_ps(a, b); }
  static v fmadd(v a, v b, v c) { return _mm256_fmadd_ps(a, b, c); }
  static v sub(v a, v b) { return _mm256_sub_ps(a, b); }
  static v fmsub(v a, v b, v c) { return _mm256_fmsub_ps(a, b, c); }  // a b - c
  static mask tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static v load(const float* p, mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, mask m, v a) { _mm256_maskstore_ps(p, m, a); }
  static constexpr int kStreamAlign = 32;  // see the AVX-512 Vec
  static void stream(float* p, v a) { _mm256_stream_ps(p, a); }
  static void stream_fence() { _mm_sfence(); }
  static v positive_or(v a, v neg) {
    return _mm256_blendv_ps(neg, a, _mm256_cmp_ps(a, zero(), _CMP_GT_OQ));
  }
  // See the AVX-512 Vec: p[4*t + j] = in[j][t] for t < V, and the inverse.
  static void transpose_in_lanes(v& a, v& b, v& c, v& d) {
    const v t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
    const v t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
    a = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
    b = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
    c = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
    d = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
  }
  static void interleave4(const v* in, float* p) {
    v a = in[0], b = in[1], c = in[2], d = in[3];
    transpose_in_lanes(a, b, c, d);  // a: tiles 0, 4; b: 1, 5; c: 2, 6; d: 3, 7
    store(p, _mm256_permute2f128_ps(a, b, 0x20));
    store(p + 8, _mm256_permute2f128_ps(c, d, 0x20));
    store(p + 16, _mm256_permute2f128_ps(a, b, 0x31));
    store(p + 24, _mm256_permute2f128_ps(c, d, 0x31));
  }
  // See the AVX-512 Vec. Within each 128-bit half: [lo1 lo2 lo3 lo4] and [lo5 lo6 lo7 hi0].
  static v next_lane(v lo, v hi) {
    const v mid = _mm256_permute2f128_ps(lo, hi, 0x21);  // [lo 4..7, hi 0..3]
    return _mm256_castsi256_ps(
        _mm256_alignr_epi8(_mm256_castps_si256(mid), _mm256_castps_si256(lo), 4));
  }
  static void deinterleave4(const float* p, v* out) {
    const v f0 = load(p), f1 = load(p + 8), f2 = load(p + 16), f3 = load(p + 24);
    v a = _mm256_permute2f128_ps(f0, f2, 0x20), b = _mm256_permute2f128_ps(f0, f2, 0x31);
    v c = _mm256_permute2f128_ps(f1, f3, 0x20), d = _mm256_permute2f128_ps(f1, f3, 0x31);
    transpose_in_lanes(a, b, c, d);
    out[0] = a, out[1] = b, out[2] = c, out[3] = d;
  }
  using Acc = v;
  using Out = v;
  static v to_acc(v a) { return a; }
  static v round(v a) { return a; }
  static v set1_out(float a) { return set1(a); }
};
#else
// Portable: 4-lane arrays that the compiler maps onto whatever vector unit it targets. fmadd
// rounds the product first (no fused operation is assumed).
struct Vec {
  static constexpr int V = 4;
  struct v {
    float a[4];
  };
  struct mask {
    int n;  // lanes [0, n) are active
  };
  static v zero() { return {{0.f, 0.f, 0.f, 0.f}}; }
  static v set1(float s) { return {{s, s, s, s}}; }
  static v load(const float* p) { return {{p[0], p[1], p[2], p[3]}}; }
  static void store(float* p, v a) {
    for (int i = 0; i < 4; ++i) p[i] = a.a[i];
  }
  static v add(v a, v b) {
    for (int i = 0; i < 4; ++i) a.a[i] += b.a[i];
    return a;
  }
  static v mul(v a, v b) {
    for (int i = 0; i < 4; ++i) a.a[i] *= b.a[i];
    return a;
  }
  static v fmadd(v a, v b, v c) {
    v r;
    for (int i = 0; i < 4; ++i) r.a[i] = a.a[i] * b.a[i] + c.a[i];
    return r;
  }
  static v sub(v a, v b) {
    for (int i = 0; i < 4; ++i) a.a[i] -= b.a[i];
    return a;
  }
  static v fmsub(v a, v b, v c) {  // a b - c
    v r;
    for (int i = 0; i < 4; ++i) r.a[i] = a.a[i] * b.a[i] - c.a[i];
    return r;
  }
  static mask tail_mask(int n) { return {n}; }
  static v load(const float* p, mask m) {
    v r = zero();
    for (int i = 0; i < 4 && i < m.n; ++i) r.a[i] = p[i];
    return r;
  }
  static void store(float* p, mask m, v a) {
    for (int i = 0; i < 4 && i < m.n; ++i) p[i] = a.a[i];
  }
  // See the AVX-512 Vec; portable code has no non-temporal store: a plain one.
  static constexpr int kStreamAlign = 4;
  static void stream(float* p, v a) { store(p, a); }
  static void stream_fence() {}
  static v positive_or(v a, v neg) {
    for (int i = 0; i < 4; ++i) a.a[i] = a.a[i] > 0.f ? a.a[i] : neg.a[i];
    return a;
  }
  // See the AVX-512 Vec: p[4*t + j] = in[j][t] for t < V, and the inverse.
  static void interleave4(const v* in, float* p) {
    for (int t = 0; t < 4; ++t)
      for (int j = 0; j < 4; ++j) p[4 * t + j] = in[j].a[t];
  }
  static v next_lane(v lo, v hi) { return {{lo.a[1], lo.a[2], lo.a[3], hi.a[0]}}; }
  static void deinterleave4(const float* p, v* out) {
    for (int t = 0; t < 4; ++t)
      for (int j = 0; j < 4; ++j) out[j].a[t] = p[4 * t + j];
  }
  using Acc = v;
  using Out = v;
  static v to_acc(v a) { return a; }
  static v round(v a) { return a; }
  static v set1_out(float a) { return set1(a); }
};
#endif

// A residual operand of apply_epilogue: V (or the masked lanes of) consecutive floats.
struct VecResidual {
  const float* ptr;
  Vec::mask m;
  bool present() const { return ptr != nullptr; }
  Vec::v load() const { return Vec::load(ptr, m); }
};

// Asks for the cache lines of [begin, end) to be brought into L2, for data a kernel reads
// later from memory in runs too short for the hardware prefetcher (e.g. the rows of a residual
// read by an epilogue). The empty asm keeps the loop: GCC otherwise deletes a loop of
// prefetches alone as one without effects.
inline void prefetch_l2(const float* begin, const float* end) {
  const char* p =
      reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(begin) & ~uintptr_t(63));
  for (; p < reinterpret_cast<const char*>(end); p += 64) {
    __builtin_prefetch(p, 0, 2);
    asm volatile("" : : "r"(p));
  }
}

}  // namespace DEBLURCORE_ISA
}  // namespace cpu
}  // namespace deblurcore
