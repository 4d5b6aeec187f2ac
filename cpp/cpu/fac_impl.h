// Row kernels of the filter adaptive convolution (FAC) and its backward, shared by the
// generic (fac.cpp), AVX2 (fac_avx2.cpp) and AVX-512 (fac_avx512.cpp) builds.
//
// Everything below the entry-point declarations has internal linkage (anonymous namespace):
// each including file compiles its own copy with its own instruction set, so no inline
// function compiled for AVX-512 can be picked by the linker for the generic path. For the same
// reason these kernels call no std:: templates.
//
// The op is memory-bound: the filter tensor (C*k*k planes) is streamed once, row by row.
// Every tap (ky, kx) of an output row is one pass over the row; the columns whose source is
// clamped onto the border (at most r on each side) are split off, so the interior loop is a
// branch-free, contiguous, vectorisable multiply-add with a shifted source row.
#pragma once

#include <cstdint>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace fac_isa {

// Per-ISA entry points (same contract as cpu::fac / cpu::fac_backward).
void fac_generic(const Context& ctx, const FacParams& p, const float* x, const float* kernel,
                 float* out);
void fac_backward_generic(const Context& ctx, const FacParams& p, const float* grad_out,
                          const float* x, const float* kernel, float* grad_x,
                          float* grad_kernel);
void fac_avx2(const Context& ctx, const FacParams& p, const float* x, const float* kernel,
              float* out);
void fac_backward_avx2(const Context& ctx, const FacParams& p, const float* grad_out,
                       const float* x, const float* kernel, float* grad_x, float* grad_kernel);
void fac_avx512(const Context& ctx, const FacParams& p, const float* x, const float* kernel,
                float* out);
void fac_backward_avx512(const Context& ctx, const FacParams& p, const float* grad_out,
                         const float* x, const float* kernel, float* grad_x,
                         float* grad_kernel);

}  // namespace fac_isa
}  // namespace cpu
}  // namespace deblurcore

#ifdef DEBLURCORE_FAC_KERNELS

namespace deblurcore {
namespace cpu {
namespace {

// acc + a*b. With FMA this is one fused operation, as in the official CUDA kernel (nvcc
// contracts its `acc += Xp * K` into fmaf), so the FMA builds reproduce its forward output
// bit for bit; the generic build rounds the product first.
template <bool Fma>
inline float madd(float a, float b, float acc) {
  if constexpr (Fma)
    return __builtin_fmaf(a, b, acc);
  else
    return a * b + acc;
}

#include <cstdlib>
inline int64_t block_floats() { return getenv("FACB") ? atoll(getenv("FACB")) : 4096; }
inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

// For a column offset d = kx - r: the columns x in [lo, hi) read source column x + d without
// clamping; x < lo read column 0 and x >= hi read column W - 1. Valid for any W >= 1.
struct ColumnSplit {
  int64_t lo, hi;
};
inline ColumnSplit column_split(int64_t d, int64_t W) {
  const int64_t lo = clamp64(-d, 0, W);
  const int64_t hi = clamp64(W - d, lo, W);
  return {lo, hi};
}

// One tap (column offset d = kx - r) applied to one row, in three forms. `src` is the clamped
// source row, so only the columns are clamped here: the clamped columns are split off and the
// interior is one contiguous loop.

// out[x] += src[clamp(x + d)] * kp[x]
template <bool Fma>
inline void tap_madd(const float* __restrict src, const float* __restrict kp,
                     float* __restrict out, int64_t d, int64_t W) {
  const ColumnSplit s = column_split(d, W);
  const float first = src[0], last = src[W - 1];
  for (int64_t x = 0; x < s.lo; ++x) out[x] = madd<Fma>(first, kp[x], out[x]);
  const int64_t n = s.hi - s.lo;
  const float* __restrict a = src + s.lo + d;
  const float* __restrict b = kp + s.lo;
  float* __restrict o = out + s.lo;
  for (int64_t i = 0; i < n; ++i) o[i] = madd<Fma>(a[i], b[i], o[i]);
  for (int64_t x = s.hi; x < W; ++x) out[x] = madd<Fma>(last, kp[x], out[x]);
}

// out[x] = src[clamp(x + d)] * g[x]
inline void tap_mul(const float* __restrict src, const float* __restrict g,
                    float* __restrict out, int64_t d, int64_t W) {
  const ColumnSplit s = column_split(d, W);
  const float first = src[0], last = src[W - 1];
  for (int64_t x = 0; x < s.lo; ++x) out[x] = first * g[x];
  const int64_t n = s.hi - s.lo;
  const float* __restrict a = src + s.lo + d;
  const float* __restrict b = g + s.lo;
  float* __restrict o = out + s.lo;
  for (int64_t i = 0; i < n; ++i) o[i] = a[i] * b[i];
  for (int64_t x = s.hi; x < W; ++x) out[x] = last * g[x];
}

// dst[clamp(x + d)] += kp[x] * g[x]: the interior is a shifted contiguous multiply-add, the
// clamped columns are summed onto columns 0 and W-1.
template <bool Fma>
inline void tap_scatter(const float* __restrict kp, const float* __restrict g,
                        float* __restrict dst, int64_t d, int64_t W) {
  const ColumnSplit s = column_split(d, W);
  float left = dst[0];
  for (int64_t x = 0; x < s.lo; ++x) left = madd<Fma>(kp[x], g[x], left);
  dst[0] = left;
  {
    const int64_t n = s.hi - s.lo;
    const float* __restrict a = kp + s.lo;
    const float* __restrict b = g + s.lo;
    float* __restrict o = dst + s.lo + d;
    for (int64_t i = 0; i < n; ++i) o[i] = madd<Fma>(a[i], b[i], o[i]);
  }
  float right = dst[W - 1];
  for (int64_t x = s.hi; x < W; ++x) right = madd<Fma>(kp[x], g[x], right);
  dst[W - 1] = right;
}

// The three passes work on blocks of rows [y0, y1) of one (n, c) plane, tap outer and row
// inner: each tap then reads (or writes) one contiguous run of (y1 - y0) * W floats of its
// filter plane, a single long stream for the prefetcher, while the block's accumulators stay
// in the L1/L2 cache. Per pixel the taps still come ky outer, kx inner.
struct Plane {
  int64_t H, W, k, r, plane;
};

// out[y, x] = sum_{ky, kx} xc[clamp(y+ky-r), clamp(x+kx-r)] * kc[ky*k+kx][y, x], accumulated
// in float from 0, ky outer and kx inner.
template <bool Fma>
void fac_forward_block(const Plane& q, const float* xc, const float* kc, float* outc,
                       int64_t y0, int64_t y1) {
  for (int64_t i = y0 * q.W; i < y1 * q.W; ++i) outc[i] = 0.f;
  for (int64_t ky = 0; ky < q.k; ++ky)
    for (int64_t kx = 0; kx < q.k; ++kx) {
      const float* kp = kc + (ky * q.k + kx) * q.plane;
      for (int64_t y = y0; y < y1; ++y)
        tap_madd<Fma>(xc + clamp64(y + ky - q.r, 0, q.H - 1) * q.W, kp + y * q.W,
                      outc + y * q.W, kx - q.r, q.W);
    }
}

// gkc[ky*k+kx][y, x] = xc[clamp(y+ky-r), clamp(x+kx-r)] * gc[y, x]
inline void fac_grad_kernel_block(const Plane& q, const float* xc, const float* gc, float* gkc,
                                  int64_t y0, int64_t y1) {
  for (int64_t ky = 0; ky < q.k; ++ky)
    for (int64_t kx = 0; kx < q.k; ++kx) {
      float* gp = gkc + (ky * q.k + kx) * q.plane;
      for (int64_t y = y0; y < y1; ++y)
        tap_mul(xc + clamp64(y + ky - q.r, 0, q.H - 1) * q.W, gc + y * q.W, gp + y * q.W,
                kx - q.r, q.W);
    }
}

// Rows [y0, y1) of grad_x, in gather form: row sy collects kc*gc from every pixel (y, x) and
// tap (ky, kx) whose clamped source is on row sy. For a tap row ky these are the rows y with
// clamp(y+ky-r) == sy: one row inside the image, a run of rows for the first and last source
// rows (the replicate padding folded back onto the border). Interior pixels accumulate ky
// outer, kx inner, as the CUDA kernel does for the padded input.
template <bool Fma>
void fac_grad_x_block(const Plane& q, const float* gc, const float* kc, float* gxc,
                      int64_t y0, int64_t y1) {
  for (int64_t i = y0 * q.W; i < y1 * q.W; ++i) gxc[i] = 0.f;
  for (int64_t ky = 0; ky < q.k; ++ky)
    for (int64_t kx = 0; kx < q.k; ++kx) {
      const float* kp = kc + (ky * q.k + kx) * q.plane;
      for (int64_t sy = y0; sy < y1; ++sy) {
        const int64_t from = sy == 0 ? 0 : clamp64(sy + q.r - ky, 0, q.H);
        const int64_t to = sy == q.H - 1 ? q.H - 1 : clamp64(sy + q.r - ky, -1, q.H - 1);
        for (int64_t y = from; y <= to; ++y)
          tap_scatter<Fma>(kp + y * q.W, gc + y * q.W, gxc + sy * q.W, kx - q.r, q.W);
      }
    }
}

// Work items are (n*C + c, block of rows), in contiguous static chunks: every thread streams
// its own part of the filter tensor, and any N, C, H gives work to every thread.
struct Blocking {
  int64_t rows, per_plane, items;
};
inline Blocking blocking(const FacParams& p) {
  // About 16 KiB of accumulators per block (kept in L1), at least one row.
  int64_t rows = block_floats() / p.W;
  rows = rows < 1 ? 1 : (rows > p.H ? p.H : rows);
  const int64_t per_plane = (p.H + rows - 1) / rows;
  return {rows, per_plane, p.N * p.C * per_plane};
}

template <bool Fma>
void fac_forward_impl(const Context& ctx, const FacParams& p, const float* x,
                      const float* kernel, float* out) {
  const Plane q{p.H, p.W, p.k, (p.k - 1) / 2, p.H * p.W};
  const Blocking b = blocking(p);
  const int64_t k2 = p.k * p.k;
#pragma omp parallel for schedule(static) num_threads(ctx.num_threads())
  for (int64_t item = 0; item < b.items; ++item) {
    const int64_t nc = item / b.per_plane, y0 = (item % b.per_plane) * b.rows;
    const int64_t y1 = y0 + b.rows < p.H ? y0 + b.rows : p.H;
    fac_forward_block<Fma>(q, x + nc * q.plane, kernel + nc * k2 * q.plane, out + nc * q.plane,
                           y0, y1);
  }
}

template <bool Fma>
void fac_backward_impl(const Context& ctx, const FacParams& p, const float* grad_out,
                       const float* x, const float* kernel, float* grad_x, float* grad_kernel) {
  const Plane q{p.H, p.W, p.k, (p.k - 1) / 2, p.H * p.W};
  const Blocking b = blocking(p);
  const int64_t k2 = p.k * p.k;
#pragma omp parallel num_threads(ctx.num_threads())
  {
#pragma omp for schedule(static) nowait
    for (int64_t item = 0; item < b.items; ++item) {
      const int64_t nc = item / b.per_plane, y0 = (item % b.per_plane) * b.rows;
      const int64_t y1 = y0 + b.rows < p.H ? y0 + b.rows : p.H;
      fac_grad_kernel_block(q, x + nc * q.plane, grad_out + nc * q.plane,
                            grad_kernel + nc * k2 * q.plane, y0, y1);
    }
#pragma omp for schedule(static)
    for (int64_t item = 0; item < b.items; ++item) {
      const int64_t nc = item / b.per_plane, y0 = (item % b.per_plane) * b.rows;
      const int64_t y1 = y0 + b.rows < p.H ? y0 + b.rows : p.H;
      fac_grad_x_block<Fma>(q, grad_out + nc * q.plane, kernel + nc * k2 * q.plane,
                            grad_x + nc * q.plane, y0, y1);
    }
  }
}

}  // namespace
}  // namespace cpu
}  // namespace deblurcore

#endif  // DEBLURCORE_FAC_KERNELS
