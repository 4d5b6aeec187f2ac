// Fast CPU modulated deformable convolution, shared by the generic (deform_conv.cpp), AVX2
// (deform_conv_avx2.cpp) and AVX-512 (deform_conv_avx512.cpp) builds.
//
// Scheme: the output pixels of an image are cut into tiles of kTile consecutive (row-major)
// pixels. For each tile the bilinear samples of every (input channel, tap) are gathered into a
// column buffer of K = Cin*kh*kw rows (mask folded into the four corner weights), laid out in
// panels of NR pixels so that the GEMM micro-kernel streams it contiguously. Then
// out[:, tile] = W (Cout x K) @ columns, with W packed once per call in panels of MR output
// channels. The column buffer of one tile (K x kTile floats, 442 KB for ASPDC's K = 1152) stays
// in the core's L2 cache, so unlike mmcv's im2col (265 MB at 720p) nothing large is allocated.
// Tiles are independent and spread over the threads.
//
// Everything below the entry-point declarations has internal linkage (anonymous namespace), so
// each including file compiles its own copy for its own instruction set and no function built
// for AVX-512 can be picked by the linker for the generic path. For the same reason these
// kernels call no std:: templates.
#pragma once

#include <cstdint>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace deform_isa {

// Per-ISA entry points (same contract as cpu::deform_conv2d).
void deform_conv2d_generic(const Context& ctx, const DeformConv2dParams& p, const float* x,
                           const float* offset, const float* mask, const float* weight,
                           const float* bias, const float* residual, float* out);
void deform_conv2d_avx2(const Context& ctx, const DeformConv2dParams& p, const float* x,
                        const float* offset, const float* mask, const float* weight,
                        const float* bias, const float* residual, float* out);
void deform_conv2d_avx512(const Context& ctx, const DeformConv2dParams& p, const float* x,
                          const float* offset, const float* mask, const float* weight,
                          const float* bias, const float* residual, float* out);

}  // namespace deform_isa
}  // namespace cpu
}  // namespace deblurcore

#ifdef DEBLURCORE_DEFORM_KERNELS

#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace deblurcore {
namespace cpu {
namespace {

// ---- vector abstraction: V lanes, an MR x (NV*V) register tile --------------------------

#if defined(__AVX512F__)
struct Vec {
  static constexpr int V = 16, MR = 8, NV = 3;  // 24 accumulators of 32 zmm registers
  using v = __m512;
  static v zero() { return _mm512_setzero_ps(); }
  static v set1(float a) { return _mm512_set1_ps(a); }
  static v load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, v a) { _mm512_storeu_ps(p, a); }
  static v mul(v a, v b) { return _mm512_mul_ps(a, b); }
  static v fmadd(v a, v b, v c) { return _mm512_fmadd_ps(a, b, c); }
  static v gather(const float* base, const int32_t* idx) {
    // Scalar loads: faster than vgatherdps on the CPUs measured (AMD Zen 4).
    __m128 q[4];
    for (int i = 0; i < 4; ++i)
      q[i] = _mm_setr_ps(base[idx[4 * i]], base[idx[4 * i + 1]], base[idx[4 * i + 2]],
                         base[idx[4 * i + 3]]);
    return _mm512_insertf32x4(
        _mm512_insertf32x4(_mm512_insertf32x4(_mm512_castps128_ps512(q[0]), q[1], 1), q[2], 2),
        q[3], 3);
  }
};
#elif defined(__AVX2__)
struct Vec {
  static constexpr int V = 8, MR = 4, NV = 3;  // 12 accumulators of 16 ymm registers
  using v = __m256;
  static v zero() { return _mm256_setzero_ps(); }
  static v set1(float a) { return _mm256_set1_ps(a); }
  static v load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, v a) { _mm256_storeu_ps(p, a); }
  static v mul(v a, v b) { return _mm256_mul_ps(a, b); }
  static v fmadd(v a, v b, v c) { return _mm256_fmadd_ps(a, b, c); }
  static v gather(const float* base, const int32_t* idx) {
    // Scalar loads: faster than vgatherdps on AMD CPUs, about even on Intel ones.
    return _mm256_setr_ps(base[idx[0]], base[idx[1]], base[idx[2]], base[idx[3]], base[idx[4]],
                          base[idx[5]], base[idx[6]], base[idx[7]]);
  }
};
#else
// Portable build: 4-lane arrays that the compiler maps onto whatever vector unit it targets.
struct Vec {
  static constexpr int V = 4, MR = 4, NV = 2;
  struct v {
    float a[4];
  };
  static v zero() { return {{0.f, 0.f, 0.f, 0.f}}; }
  static v set1(float s) { return {{s, s, s, s}}; }
  static v load(const float* p) { return {{p[0], p[1], p[2], p[3]}}; }
  static void store(float* p, v a) {
    for (int i = 0; i < 4; ++i) p[i] = a.a[i];
  }
  static v mul(v a, v b) {
    v r;
    for (int i = 0; i < 4; ++i) r.a[i] = a.a[i] * b.a[i];
    return r;
  }
  static v fmadd(v a, v b, v c) {
    v r;
    for (int i = 0; i < 4; ++i) r.a[i] = a.a[i] * b.a[i] + c.a[i];
    return r;
  }
  static v gather(const float* base, const int32_t* idx) {
    return {{base[idx[0]], base[idx[1]], base[idx[2]], base[idx[3]]}};
  }
};
#endif

constexpr int64_t kNR = Vec::NV * Vec::V;  // pixels per GEMM panel
constexpr int64_t kMR = Vec::MR;           // output channels per GEMM panel
// Pixels per tile: a multiple of every build's kNR (48, 24, 8).
constexpr int64_t kTile = 96;
static_assert(kTile % kNR == 0, "the tile must hold whole panels");

// A 64-byte aligned scratch buffer owned by one thread.
struct Scratch {
  float* ptr = nullptr;
  explicit Scratch(int64_t floats) {
    const size_t bytes = (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64;
    ptr = static_cast<float*>(std::aligned_alloc(64, bytes ? bytes : 64));
  }
  ~Scratch() { std::free(ptr); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// C[MR][NR] = Wp (K x MR panel, k-major) @ Cp (K x NR panel, k-major).
inline void micro_kernel(int64_t K, const float* wp, const float* cp, float* c) {
  typename Vec::v acc[Vec::MR][Vec::NV];
#pragma GCC unroll 16
  for (int i = 0; i < Vec::MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < Vec::NV; ++j) acc[i][j] = Vec::zero();
  for (int64_t k = 0; k < K; ++k) {
    typename Vec::v b[Vec::NV];
#pragma GCC unroll 4
    for (int j = 0; j < Vec::NV; ++j) b[j] = Vec::load(cp + k * kNR + j * Vec::V);
#pragma GCC unroll 16
    for (int i = 0; i < Vec::MR; ++i) {
      const typename Vec::v a = Vec::set1(wp[k * kMR + i]);
#pragma GCC unroll 4
      for (int j = 0; j < Vec::NV; ++j) acc[i][j] = Vec::fmadd(a, b[j], acc[i][j]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < Vec::MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < Vec::NV; ++j) Vec::store(c + i * kNR + j * Vec::V, acc[i][j]);
}

inline float epilogue_value(const EpilogueParams& e, float v, const float* residual, int64_t o) {
  if (residual && e.residual_before_activation) v += residual[o];
  if (e.activation == Activation::ReLU) v = v > 0.f ? v : 0.f;
  if (e.activation == Activation::LeakyReLU) v = v > 0.f ? v : v * e.negative_slope;
  if (residual && !e.residual_before_activation) v += residual[o];
  return v;
}

void deform_conv2d_impl(const Context& ctx, const DeformConv2dParams& p, const float* x,
                        const float* offset, const float* mask, const float* weight,
                        const float* bias, const float* residual, float* out) {
  const int64_t taps = p.kh * p.kw, G = p.offset_groups, cpg = p.Cin / G;
  const int64_t K = p.Cin * taps;
  const int64_t HWo = p.Hout * p.Wout;
  const int64_t m_panels = (p.Cout + kMR - 1) / kMR;
  const int64_t tiles = (HWo + kTile - 1) / kTile;

  // Weight panels: wp[mb][k][i] = weight[mb*MR + i][k], zero rows past Cout.
  Scratch wpack(m_panels * K * kMR);
  float* wp = wpack.ptr;
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t mb = 0; mb < m_panels; ++mb)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < kMR; ++i) {
        const int64_t co = mb * kMR + i;
        wp[(mb * K + k) * kMR + i] = co < p.Cout ? weight[co * K + k] : 0.f;
      }

  const float fH = static_cast<float>(p.H), fW = static_cast<float>(p.W);
#pragma omp parallel num_threads(ctx.num_threads())
  {
    Scratch cols(K * kTile);          // panels: [kTile/NR][K][NR]
    Scratch corner_w(4 * kTile);      // per pixel of the tile, for the current (group, tap)
    Scratch corner_i(4 * kTile);      // int32 corner indices stored in float-sized slots
    Scratch ctile(kMR * kNR);
    int32_t* ci_idx = reinterpret_cast<int32_t*>(corner_i.ptr);
    float* cw = corner_w.ptr;

#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < p.N * tiles; ++task) {
      const int64_t n = task / tiles, t0 = (task % tiles) * kTile;
      const int64_t valid = HWo - t0 < kTile ? HWo - t0 : kTile;

      for (int64_t g = 0; g < G; ++g) {
        const float* off = offset + (n * G + g) * 2 * taps * HWo;
        const float* msk = mask ? mask + (n * G + g) * taps * HWo : nullptr;
        for (int64_t k = 0; k < taps; ++k) {
          const int64_t ky = k / p.kw, kx = k % p.kw;
          // Corner indices and weights of this tap for every pixel of the tile. Corners
          // outside the image get weight 0 and index 0 (a valid address).
          bool one_corner = true;  // every sample of this tap sits on a pixel (or is 0)
          for (int64_t j = 0; j < kTile; ++j) {
            float w00 = 0.f, w01 = 0.f, w10 = 0.f, w11 = 0.f;
            int32_t i00 = 0, i01 = 0, i10 = 0, i11 = 0;
            if (j < valid) {
              const int64_t pix = t0 + j, oy = pix / p.Wout, ox = pix % p.Wout;
              const float py = static_cast<float>(oy * p.sh - p.ph + ky * p.dh) +
                               off[(2 * k) * HWo + pix];
              const float px = static_cast<float>(ox * p.sw - p.pw + kx * p.dw) +
                               off[(2 * k + 1) * HWo + pix];
              if (py > -1.f && px > -1.f && py < fH && px < fW) {
                const float fy = std::floor(py), fx = std::floor(px);
                const int64_t y0 = static_cast<int64_t>(fy), x0 = static_cast<int64_t>(fx);
                const float ly = py - fy, lx = px - fx, hy = 1.f - ly, hx = 1.f - lx;
                const float m = msk ? msk[k * HWo + pix] : 1.f;
                const bool top = y0 >= 0, bottom = y0 + 1 <= p.H - 1;
                const bool left = x0 >= 0, right = x0 + 1 <= p.W - 1;
                if (top && left) w00 = hy * hx * m, i00 = static_cast<int32_t>(y0 * p.W + x0);
                if (top && right) w01 = hy * lx * m, i01 = static_cast<int32_t>(y0 * p.W + x0 + 1);
                if (bottom && left) w10 = ly * hx * m, i10 = static_cast<int32_t>((y0 + 1) * p.W + x0);
                if (bottom && right)
                  w11 = ly * lx * m, i11 = static_cast<int32_t>((y0 + 1) * p.W + x0 + 1);
              }
            }
            one_corner = one_corner && w01 == 0.f && w10 == 0.f && w11 == 0.f;
            cw[j] = w00, cw[kTile + j] = w01, cw[2 * kTile + j] = w10, cw[3 * kTile + j] = w11;
            ci_idx[j] = i00, ci_idx[kTile + j] = i01, ci_idx[2 * kTile + j] = i10,
            ci_idx[3 * kTile + j] = i11;
          }
          // Gather every channel of the group through these corners. Integer sample
          // positions (zero offsets, e.g. ASPDC's d0 branch) need only one corner.
          for (int64_t c = g * cpg; c < (g + 1) * cpg; ++c) {
            const float* plane = x + (n * p.Cin + c) * p.H * p.W;
            const int64_t row = c * taps + k;
            if (one_corner) {
              for (int64_t j = 0; j < kTile; j += Vec::V) {
                const typename Vec::v v = Vec::mul(Vec::load(cw + j), Vec::gather(plane, ci_idx + j));
                Vec::store(cols.ptr + ((j / kNR) * K + row) * kNR + j % kNR, v);
              }
              continue;
            }
            for (int64_t j = 0; j < kTile; j += Vec::V) {
              typename Vec::v v = Vec::mul(Vec::load(cw + j), Vec::gather(plane, ci_idx + j));
              v = Vec::fmadd(Vec::load(cw + kTile + j), Vec::gather(plane, ci_idx + kTile + j), v);
              v = Vec::fmadd(Vec::load(cw + 2 * kTile + j),
                             Vec::gather(plane, ci_idx + 2 * kTile + j), v);
              v = Vec::fmadd(Vec::load(cw + 3 * kTile + j),
                             Vec::gather(plane, ci_idx + 3 * kTile + j), v);
              const int64_t nb = j / kNR, jj = j % kNR;
              Vec::store(cols.ptr + (nb * K + row) * kNR + jj, v);
            }
          }
        }
      }

      // out[:, tile] = W @ columns, then bias and the epilogue.
      for (int64_t mb = 0; mb < m_panels; ++mb)
        for (int64_t nb = 0; nb < kTile / kNR; ++nb) {
          const int64_t j0 = nb * kNR;
          if (j0 >= valid) break;
          micro_kernel(K, wp + mb * K * kMR, cols.ptr + nb * K * kNR, ctile.ptr);
          const int64_t jn = valid - j0 < kNR ? valid - j0 : kNR;
          for (int64_t i = 0; i < kMR; ++i) {
            const int64_t co = mb * kMR + i;
            if (co >= p.Cout) break;
            const float b = bias ? bias[co] : 0.f;
            const int64_t o = (n * p.Cout + co) * HWo + t0 + j0;
            const float* src = ctile.ptr + i * kNR;
            for (int64_t j = 0; j < jn; ++j)
              out[o + j] = epilogue_value(p.epilogue, src[j] + b, residual, o + j);
          }
        }
    }
  }
}

}  // namespace
}  // namespace cpu
}  // namespace deblurcore

#endif  // DEBLURCORE_DEFORM_KERNELS
