// Fast CPU modulated deformable convolution, written once against the vector traits of
// cpu/simd.h and compiled per instruction set by deform_conv2d_generic.cpp,
// deform_conv2d_avx2.cpp and deform_conv2d_avx512.cpp (each defines DEBLURCORE_ISA first, so
// all of this lands in that ISA's namespace; see cpp/cpu/README.md). These kernels call no
// std:: templates (their instantiations would be shared with other files).
//
// Scheme: see deform_conv2d_isa below.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "cpu/deform_conv2d.h"
#include "cpu/simd.h"
#include "epilogue.h"

namespace deblurcore {
namespace cpu {
namespace DEBLURCORE_ISA {

// Register tile: kMR pixels x kNV vectors of output channels (AVX-512: 6 x 64 in 24 of the 32
// zmm registers; AVX2: 6 x 16 in 12 of 16 ymm; generic: 4 x 8).
constexpr int kDeformMR = Vec::V == 4 ? 4 : 6;
constexpr int kDeformNV = Vec::V == 16 ? 4 : 2;

// Scalar epilogue traits of this build (apply_epilogue on one output).
struct EpilogueMath {
  using Acc = float;
  using Out = float;
  static float add(float a, float b) { return a + b; }
  static float mul(float a, float b) { return a * b; }
  static float to_acc(float a) { return a; }
  static float round(float a) { return a; }
  static float set1_out(float a) { return a; }
  static float positive_or(float v, float neg) { return v > 0.f ? v : neg; }
};
struct EpilogueResidual {
  const float* ptr;
  bool present() const { return ptr != nullptr; }
  float load() const { return *ptr; }
};

constexpr int64_t kMR = kDeformMR;           // pixels per register tile
constexpr int64_t kNB = kDeformNV * Vec::V;  // output channels per weight panel
// Pixels per tile: a multiple of every build's kMR (6, 6, 4).
constexpr int64_t kTile = 96;
static_assert(kTile % kMR == 0, "the tile must hold whole register tiles");

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

// c[i][0..kNB) = sum_k a[i*lda + k] * b[k][0..kNB), i < MR: MR pixel rows of the sample
// matrix (k = tap-major, channel-minor) times a K x kNB weight panel. The sum runs over k in
// order in one accumulator per output, whatever thread computes the tile.
inline void micro_kernel(int64_t K, const float* a, int64_t lda, const float* b, float* c,
                         int64_t ldc) {
  Vec::v acc[kDeformMR][kDeformNV];
#pragma GCC unroll 16
  for (int i = 0; i < kDeformMR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < kDeformNV; ++j) acc[i][j] = Vec::zero();
  for (int64_t k = 0; k < K; ++k) {
    Vec::v bv[kDeformNV];
#pragma GCC unroll 4
    for (int j = 0; j < kDeformNV; ++j) bv[j] = Vec::load(b + k * kNB + j * Vec::V);
#pragma GCC unroll 16
    for (int i = 0; i < kDeformMR; ++i) {
      const Vec::v av = Vec::set1(a[i * lda + k]);
#pragma GCC unroll 4
      for (int j = 0; j < kDeformNV; ++j) acc[i][j] = Vec::fmadd(av, bv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < kDeformMR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < kDeformNV; ++j) Vec::store(c + i * ldc + j * Vec::V, acc[i][j]);
}

// dst[c] = w0*p0[c] + w1*p1[c] + w2*p2[c] + w3*p3[c] for c < n (the bilinear sample of n
// consecutive channels of a channels-last row), or w0*p0[c] when only one corner counts.
inline void blend4(float* dst, int64_t n, const float* p0, const float* p1, const float* p2,
                   const float* p3, float w0, float w1, float w2, float w3) {
  const Vec::v v0 = Vec::set1(w0), v1 = Vec::set1(w1), v2 = Vec::set1(w2), v3 = Vec::set1(w3);
  int64_t c = 0;
  for (; c + Vec::V <= n; c += Vec::V) {
    Vec::v s = Vec::mul(v0, Vec::load(p0 + c));
    s = Vec::fmadd(v1, Vec::load(p1 + c), s);
    s = Vec::fmadd(v2, Vec::load(p2 + c), s);
    s = Vec::fmadd(v3, Vec::load(p3 + c), s);
    Vec::store(dst + c, s);
  }
  for (; c < n; ++c) dst[c] = w0 * p0[c] + w1 * p1[c] + w2 * p2[c] + w3 * p3[c];
}

inline void scale1(float* dst, int64_t n, const float* p0, float w0) {
  const Vec::v v0 = Vec::set1(w0);
  int64_t c = 0;
  for (; c + Vec::V <= n; c += Vec::V) Vec::store(dst + c, Vec::mul(v0, Vec::load(p0 + c)));
  for (; c < n; ++c) dst[c] = w0 * p0[c];
}

// xt[n][y][x][c] = x[n][c][y][x] (channels last), in blocks of 16 channels x 64 columns so
// that both sides are read and written in runs.
void to_channels_last(int threads, const DeformConv2dParams& p, const float* x, float* xt) {
  const int64_t C = p.Cin, W = p.W, plane = p.H * p.W;
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t y = 0; y < p.H; ++y) {
      const float* src = x + n * C * plane + y * W;
      float* dst = xt + (n * plane + y * W) * C;
      for (int64_t c0 = 0; c0 < C; c0 += 16) {
        const int64_t c1 = c0 + 16 < C ? c0 + 16 : C;
        for (int64_t x0 = 0; x0 < W; x0 += 64) {
          const int64_t x1 = x0 + 64 < W ? x0 + 64 : W;
          for (int64_t xx = x0; xx < x1; ++xx)
            for (int64_t c = c0; c < c1; ++c) dst[xx * C + c] = src[c * plane + xx];
        }
      }
    }
}

// Scheme: the input is copied channels last (the four bilinear corners of a sample are then
// four runs of consecutive channels). The output pixels of an image are cut into tiles of
// kTile consecutive (row-major) pixels. For each tile and pixel, the corner addresses and
// weights of each (offset group, tap) are computed once (mask folded into the weights) and
// used for all channels of the group, filling row `pixel` of a kTile x K sample matrix
// (k = tap * Cin + channel). Then out[tile] = samples @ W^T, with W packed once per call in
// panels of kNB output channels (rows k in the same tap-major order), through an MR x kNB
// register tile, and transposed back to NCHW in the epilogue. The sample matrix of one tile
// (kTile x K floats, 442 KB for ASPDC's K = 1152) stays in the core's L2 cache, so unlike
// mmcv's im2col (265 MB at 720p) nothing large is built. Tiles are independent and spread
// over the threads; every output is summed in the same order whatever the thread count.
//
// The product of a tile is `gemm` (FloatTileGemm below, or the bf16 one of
// deform_conv2d_bf16_avx512bf16.cpp): gemm(samples, rows, ctile, scratch) fills
// ctile[0 .. rows)[0 .. Coutp) from samples[0 .. rows)[0 .. K), rows a multiple of kMR;
// gemm.scratch_floats() floats of per-thread scratch are its own.
template <class TileGemm>
void deform_conv2d_tiles(int threads, const DeformConv2dParams& p, const float* x, float* xt,
                         const float* offset, const float* mask, const TileGemm& gemm,
                         const float* bias, const float* residual, float* out) {
  const int64_t taps = p.kh * p.kw, G = p.offset_groups, cpg = p.Cin / G, C = p.Cin;
  const int64_t K = C * taps;
  const int64_t HWo = p.Hout * p.Wout, plane = p.H * p.W;
  const int64_t n_panels = (p.Cout + kNB - 1) / kNB, Coutp = n_panels * kNB;
  const int64_t tiles = (HWo + kTile - 1) / kTile;

  // Channels-last copy of the input, followed by one row of C zeros that corners outside the
  // image point at (they contribute exactly 0, whatever the input holds).
  to_channels_last(threads, p, x, xt);
  const float* zero_row = xt + p.N * plane * C;
  std::memset(xt + p.N * plane * C, 0, static_cast<size_t>(C) * sizeof(float));

  const float fH = static_cast<float>(p.H), fW = static_cast<float>(p.W);
#pragma omp parallel num_threads(threads)
  {
    Scratch samples(kTile * K);    // [kTile][K]
    Scratch ctile(kTile * Coutp);  // [kTile][Coutp]
    Scratch gemm_scratch(gemm.scratch_floats());

#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < p.N * tiles; ++task) {
      const int64_t n = task / tiles, t0 = (task % tiles) * kTile;
      const int64_t valid = HWo - t0 < kTile ? HWo - t0 : kTile;
      const float* img = xt + n * plane * C;

      for (int64_t j = 0; j < valid; ++j) {
        const int64_t pix = t0 + j, oy = pix / p.Wout, ox = pix % p.Wout;
        float* row = samples.ptr + j * K;
        for (int64_t g = 0; g < G; ++g) {
          const float* off = offset + (n * G + g) * 2 * taps * HWo + pix;
          const float* msk = mask ? mask + (n * G + g) * taps * HWo + pix : nullptr;
          const int64_t c0 = g * cpg;
          for (int64_t k = 0; k < taps; ++k) {
            const int64_t ky = k / p.kw, kx = k % p.kw;
            float* dst = row + k * C + c0;
            const float py = static_cast<float>(oy * p.sh - p.ph + ky * p.dh) + off[(2 * k) * HWo];
            const float px =
                static_cast<float>(ox * p.sw - p.pw + kx * p.dw) + off[(2 * k + 1) * HWo];
            if (!(py > -1.f && px > -1.f && py < fH && px < fW)) {
              std::memset(dst, 0, static_cast<size_t>(cpg) * sizeof(float));
              continue;
            }
            const float fy = __builtin_floorf(py), fx = __builtin_floorf(px);
            const int64_t y0 = static_cast<int64_t>(fy), x0 = static_cast<int64_t>(fx);
            const float ly = py - fy, lx = px - fx, hy = 1.f - ly, hx = 1.f - lx;
            const float m = msk ? msk[k * HWo] : 1.f;
            const bool top = y0 >= 0, bottom = y0 + 1 <= p.H - 1;
            const bool left = x0 >= 0, right = x0 + 1 <= p.W - 1;
            const float* p00 = top && left ? img + (y0 * p.W + x0) * C + c0 : zero_row;
            const float* p01 = top && right ? img + (y0 * p.W + x0 + 1) * C + c0 : zero_row;
            const float* p10 = bottom && left ? img + ((y0 + 1) * p.W + x0) * C + c0 : zero_row;
            const float* p11 =
                bottom && right ? img + ((y0 + 1) * p.W + x0 + 1) * C + c0 : zero_row;
            const float w00 = hy * hx * m, w01 = hy * lx * m, w10 = ly * hx * m, w11 = ly * lx * m;
            // An integer position (zero offsets, e.g. ASPDC's d0 branch) needs one corner.
            if (ly == 0.f && lx == 0.f)
              scale1(dst, cpg, p00, w00);
            else
              blend4(dst, cpg, p00, p01, p10, p11, w00, w01, w10, w11);
          }
        }
      }
      // Rows past the end of the image: zeros, so the register tiles read defined values.
      const int64_t rows = (valid + kMR - 1) / kMR * kMR;
      if (valid < rows)
        std::memset(samples.ptr + valid * K, 0,
                    static_cast<size_t>((rows - valid) * K) * sizeof(float));

      // ctile[tile pixels][Cout] = samples @ W^T.
      gemm(samples.ptr, rows, ctile.ptr, gemm_scratch.ptr);

      // Bias, epilogue, and back to NCHW.
      for (int64_t co = 0; co < p.Cout; ++co) {
        const int64_t o = (n * p.Cout + co) * HWo + t0;
        const float* src = ctile.ptr + co;
        for (int64_t j = 0; j < valid; ++j)
          out[o + j] = apply_epilogue<EpilogueMath>(
              p.epilogue, src[j * Coutp], bias ? bias[co] : 0.f, 1.f, 0.f,
              EpilogueResidual{residual ? residual + o + j : nullptr});
      }
    }
  }
}

// The float product of a tile: weight panels wp[nb][k][j] = weight[nb*kNB + j][c][t] with
// k = t*C + c (zero columns past Cout), through the MR x kNB register tile.
struct FloatTileGemm {
  const float* wp;
  int64_t K, n_panels, Coutp;
  int64_t scratch_floats() const { return 0; }
  void operator()(const float* samples, int64_t rows, float* ctile, float*) const {
    for (int64_t nb = 0; nb < n_panels; ++nb)
      for (int64_t i0 = 0; i0 < rows; i0 += kMR)
        micro_kernel(K, samples + i0 * K, K, wp + nb * K * kNB, ctile + i0 * Coutp + nb * kNB,
                     Coutp);
  }
};

void deform_conv2d_isa(int threads, const DeformConv2dParams& p, const float* x, float* xt,
                       const float* offset, const float* mask, const float* weight,
                       const float* bias, const float* residual, float* out) {
  const int64_t taps = p.kh * p.kw, C = p.Cin, K = C * taps;
  const int64_t n_panels = (p.Cout + kNB - 1) / kNB;
  Scratch wpack(n_panels * K * kNB);
  float* wp = wpack.ptr;
#pragma omp parallel for num_threads(threads)
  for (int64_t nb = 0; nb < n_panels; ++nb)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < kNB; ++j) {
          const int64_t co = nb * kNB + j;
          wp[(nb * K + t * C + c) * kNB + j] = co < p.Cout ? weight[(co * C + c) * taps + t] : 0.f;
        }
  deform_conv2d_tiles(threads, p, x, xt, offset, mask,
                      FloatTileGemm{wp, K, n_panels, n_panels * kNB}, bias, residual, out);
}

}  // namespace DEBLURCORE_ISA
}  // namespace cpu
}  // namespace deblurcore
