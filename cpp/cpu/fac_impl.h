// Row kernels of the filter adaptive convolution (FAC) and its backward, written once and
// compiled per instruction set by fac_generic.cpp, fac_avx2.cpp and fac_avx512.cpp (each defines
// DEBLURCORE_ISA first, so all of this lands in that ISA's namespace; see cpp/cpu/README.md).
// These kernels call no std:: templates (their instantiations would be shared with other files).
//
// The op is memory-bound: the filter tensor (C*k*k planes; 737 MB for STFAN at 720p) is
// streamed once and is all that matters, so the loops are arranged to read it in long
// contiguous runs (see the blocking below) at the machine's streaming bandwidth. Along a row,
// the columns whose taps are clamped onto the border (at most r on each side) are split off,
// so the interior loop is branch-free, contiguous and vectorised (the compiler does it at -O3;
// the loops are written for that).
#pragma once

#include <cstdint>

#include "cpu/fac.h"

#ifndef DEBLURCORE_ISA
#error "define DEBLURCORE_ISA (generic, avx2 or avx512) before including cpu/fac_impl.h"
#endif

namespace deblurcore {
namespace cpu {
namespace DEBLURCORE_ISA {

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

inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

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
inline void tap_madd(const float* __restrict src, const float* __restrict kp, float* __restrict out,
                     int64_t d, int64_t W) {
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
inline void tap_mul(const float* __restrict src, const float* __restrict g, float* __restrict out,
                    int64_t d, int64_t W) {
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

// The three passes work on blocks of rows [y0, y1) of one (n, c) plane, filter row (or tap)
// outer and image row inner: each filter plane is then read (or written) in one contiguous run
// of (y1 - y0) * W floats, a few long streams for the prefetcher, while the block's
// accumulators stay in cache. Per pixel the taps still come ky outer, kx inner.
struct Plane {
  int64_t H, W, k, r, plane;
};

// out[y, x] = sum_{ky, kx} xc[clamp(y+ky-r), clamp(x+kx-r)] * kc[ky*k+kx][y, x], accumulated
// in float from 0, ky outer and kx inner. K > 0 is the compile-time kernel size: the k taps
// of a filter row are then fused into one pass over the output row (k filter planes read side
// by side, the accumulator loaded and stored once per ky instead of once per tap). K == 0
// (any other size) makes one pass per tap.
template <bool Fma, int K>
void fac_forward_block(const Plane& q, const float* xc, const float* kc, float* outc, int64_t y0,
                       int64_t y1) {
  const int64_t W = q.W;
  for (int64_t i = y0 * W; i < y1 * W; ++i) outc[i] = 0.f;
  if constexpr (K == 0) {
    for (int64_t ky = 0; ky < q.k; ++ky)
      for (int64_t kx = 0; kx < q.k; ++kx) {
        const float* kp = kc + (ky * q.k + kx) * q.plane;
        for (int64_t y = y0; y < y1; ++y)
          tap_madd<Fma>(xc + clamp64(y + ky - q.r, 0, q.H - 1) * W, kp + y * W, outc + y * W,
                        kx - q.r, W);
      }
  } else {
    constexpr int64_t r = (K - 1) / 2;
    // Columns [xb, xe) read all K taps unclamped; the at most 2r others are clamped.
    const int64_t xb = r < W ? r : W, xe = W - r > xb ? W - r : xb;
    for (int64_t ky = 0; ky < K; ++ky)
      for (int64_t y = y0; y < y1; ++y) {
        const float* __restrict src = xc + clamp64(y + ky - r, 0, q.H - 1) * W;
        const float* __restrict kr = kc + ky * K * q.plane + y * W;
        float* __restrict o = outc + y * W;
        const int64_t pl = q.plane;
        for (int64_t x = xb; x < xe; ++x) {
          float acc = o[x];
#pragma GCC unroll 16
          for (int64_t kx = 0; kx < K; ++kx) acc = madd<Fma>(src[x + kx - r], kr[kx * pl + x], acc);
          o[x] = acc;
        }
        auto clamped_column = [&](int64_t x) {
          float acc = o[x];
          for (int64_t kx = 0; kx < K; ++kx)
            acc = madd<Fma>(src[clamp64(x + kx - r, 0, W - 1)], kr[kx * pl + x], acc);
          o[x] = acc;
        };
        for (int64_t x = 0; x < xb; ++x) clamped_column(x);
        for (int64_t x = xe; x < W; ++x) clamped_column(x);
      }
  }
}

// gkc[ky*k+kx][y, x] = xc[clamp(y+ky-r), clamp(x+kx-r)] * gc[y, x]
inline void fac_grad_kernel_block(const Plane& q, const float* xc, const float* gc, float* gkc,
                                  int64_t y0, int64_t y1) {
  for (int64_t ky = 0; ky < q.k; ++ky)
    for (int64_t kx = 0; kx < q.k; ++kx) {
      float* gp = gkc + (ky * q.k + kx) * q.plane;
      for (int64_t y = y0; y < y1; ++y)
        tap_mul(xc + clamp64(y + ky - q.r, 0, q.H - 1) * q.W, gc + y * q.W, gp + y * q.W, kx - q.r,
                q.W);
    }
}

// Rows [y0, y1) of grad_x, in gather form: row sy collects kc*gc from every pixel (y, x) and
// tap (ky, kx) whose clamped source is on row sy. For a tap row ky these are the rows y with
// clamp(y+ky-r) == sy: one row inside the image, a run of rows for the first and last source
// rows (the replicate padding folded back onto the border). Interior pixels accumulate ky
// outer, kx inner, as the CUDA kernel does for the padded input. K as in fac_forward_block.
template <bool Fma, int K>
void fac_grad_x_block(const Plane& q, const float* gc, const float* kc, float* gxc, int64_t y0,
                      int64_t y1) {
  const int64_t W = q.W;
  for (int64_t i = y0 * W; i < y1 * W; ++i) gxc[i] = 0.f;
  auto rows_onto = [&](int64_t sy, int64_t ky, int64_t& from, int64_t& to) {
    from = sy == 0 ? 0 : clamp64(sy + q.r - ky, 0, q.H);
    to = sy == q.H - 1 ? q.H - 1 : clamp64(sy + q.r - ky, -1, q.H - 1);
  };
  if constexpr (K == 0) {
    for (int64_t ky = 0; ky < q.k; ++ky)
      for (int64_t kx = 0; kx < q.k; ++kx) {
        const float* kp = kc + (ky * q.k + kx) * q.plane;
        for (int64_t sy = y0; sy < y1; ++sy) {
          int64_t from, to;
          rows_onto(sy, ky, from, to);
          for (int64_t y = from; y <= to; ++y)
            tap_scatter<Fma>(kp + y * W, gc + y * W, gxc + sy * W, kx - q.r, W);
        }
      }
  } else {
    constexpr int64_t r = (K - 1) / 2;
    // Target columns [xb, xe) receive exactly one pixel per tap, x = s + r - kx (gathered);
    // the at most 2r others also collect the clamped columns (scattered).
    const int64_t xb = r < W ? r : W, xe = W - r > xb ? W - r : xb;
    const int64_t pl = q.plane;
    for (int64_t ky = 0; ky < K; ++ky)
      for (int64_t sy = y0; sy < y1; ++sy) {
        int64_t from, to;
        rows_onto(sy, ky, from, to);
        float* __restrict o = gxc + sy * W;
        for (int64_t y = from; y <= to; ++y) {
          const float* __restrict kr = kc + ky * K * pl + y * W;
          const float* __restrict g = gc + y * W;
          for (int64_t s = xb; s < xe; ++s) {
            float acc = o[s];
#pragma GCC unroll 16
            for (int64_t kx = 0; kx < K; ++kx)
              acc = madd<Fma>(kr[kx * pl + s + r - kx], g[s + r - kx], acc);
            o[s] = acc;
          }
          // Pixels whose target clamp(x + kx - r) is a border column: x + kx - r < xb, or
          // x + kx - r >= xe (the two ranges are disjoint and cover every x when xb == xe).
          for (int64_t kx = 0; kx < K; ++kx) {
            const int64_t d = kx - r;
            const int64_t left_end = clamp64(xb - d, 0, W);
            const int64_t right_begin = clamp64(xe - d, left_end, W);
            for (int64_t x = 0; x < left_end; ++x) {
              const int64_t t = clamp64(x + d, 0, W - 1);
              o[t] = madd<Fma>(kr[kx * pl + x], g[x], o[t]);
            }
            for (int64_t x = right_begin; x < W; ++x) {
              const int64_t t = clamp64(x + d, 0, W - 1);
              o[t] = madd<Fma>(kr[kx * pl + x], g[x], o[t]);
            }
          }
        }
      }
  }
}

// Work items are (n*C + c, block of rows), in contiguous static chunks: every thread streams
// its own part of the filter tensor, and any N, C, H gives work to every thread.
struct Blocking {
  int64_t rows, per_plane, items;
};
inline Blocking blocking(const FacParams& p, int threads) {
  // Blocks of about 64 Ki floats (256 KiB of accumulators, kept in L2): long enough runs per
  // filter plane that the read reaches streaming bandwidth (measured: 16 Ki-float blocks
  // cost 1.6x more). Smaller when that would leave threads without work.
  int64_t rows = (int64_t(1) << 16) / p.W;
  rows = rows < 1 ? 1 : (rows > p.H ? p.H : rows);
  const int64_t NC = p.N * p.C, want = 2 * int64_t(threads);
  if (NC * ((p.H + rows - 1) / rows) < want) {
    const int64_t splits = (want + NC - 1) / NC;  // blocks wanted per plane
    rows = (p.H + splits - 1) / splits;
  }
  const int64_t per_plane = (p.H + rows - 1) / rows;
  return {rows, per_plane, NC * per_plane};
}

template <bool Fma, int K>
void fac_forward_impl(int threads, const FacParams& p, const float* x, const float* kernel,
                      float* out) {
  const Plane q{p.H, p.W, p.k, (p.k - 1) / 2, p.H * p.W};
  const Blocking b = blocking(p, threads);
  const int64_t k2 = p.k * p.k;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t item = 0; item < b.items; ++item) {
    const int64_t nc = item / b.per_plane, y0 = (item % b.per_plane) * b.rows;
    const int64_t y1 = y0 + b.rows < p.H ? y0 + b.rows : p.H;
    fac_forward_block<Fma, K>(q, x + nc * q.plane, kernel + nc * k2 * q.plane, out + nc * q.plane,
                              y0, y1);
  }
}

template <bool Fma, int K>
void fac_backward_impl(int threads, const FacParams& p, const float* grad_out, const float* x,
                       const float* kernel, float* grad_x, float* grad_kernel) {
  const Plane q{p.H, p.W, p.k, (p.k - 1) / 2, p.H * p.W};
  const Blocking b = blocking(p, threads);
  const int64_t k2 = p.k * p.k;
#pragma omp parallel num_threads(threads)
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
      fac_grad_x_block<Fma, K>(q, grad_out + nc * q.plane, kernel + nc * k2 * q.plane,
                               grad_x + nc * q.plane, y0, y1);
    }
  }
}

// Kernel sizes with a fused path; any other odd size takes the per-tap path.
template <bool Fma>
void fac_forward_any(int threads, const FacParams& p, const float* x, const float* kernel,
                     float* out) {
  switch (p.k) {
    case 3: fac_forward_impl<Fma, 3>(threads, p, x, kernel, out); return;
    case 5: fac_forward_impl<Fma, 5>(threads, p, x, kernel, out); return;
    case 7: fac_forward_impl<Fma, 7>(threads, p, x, kernel, out); return;
    default: fac_forward_impl<Fma, 0>(threads, p, x, kernel, out); return;
  }
}

template <bool Fma>
void fac_backward_any(int threads, const FacParams& p, const float* grad_out, const float* x,
                      const float* kernel, float* grad_x, float* grad_kernel) {
  switch (p.k) {
    case 3: fac_backward_impl<Fma, 3>(threads, p, grad_out, x, kernel, grad_x, grad_kernel); return;
    case 5: fac_backward_impl<Fma, 5>(threads, p, grad_out, x, kernel, grad_x, grad_kernel); return;
    case 7: fac_backward_impl<Fma, 7>(threads, p, grad_out, x, kernel, grad_x, grad_kernel); return;
    default:
      fac_backward_impl<Fma, 0>(threads, p, grad_out, x, kernel, grad_x, grad_kernel);
      return;
  }
}

// The entry points of this instruction set (fac.h). The FMA builds fuse each multiply-add, as
// the official CUDA kernel does; the generic build rounds the product first.
#if defined(__FMA__)
constexpr bool kFma = true;
#else
constexpr bool kFma = false;
#endif

void fac(int threads, const FacParams& p, const float* x, const float* kernel, float* out) {
  fac_forward_any<kFma>(threads, p, x, kernel, out);
}

void fac_backward(int threads, const FacParams& p, const float* grad_out, const float* x,
                  const float* kernel, float* grad_x, float* grad_kernel) {
  fac_backward_any<kFma>(threads, p, grad_out, x, kernel, grad_x, grad_kernel);
}

}  // namespace DEBLURCORE_ISA
}  // namespace cpu
}  // namespace deblurcore
