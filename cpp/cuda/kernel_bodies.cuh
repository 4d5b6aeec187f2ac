// The per-element and per-tile computations of the CUDA kernels, as __host__ __device__
// functions. The __global__ kernels in conv.cu, fac.cu and elementwise.cu are thin loops around
// them, which keeps the index arithmetic in one place and lets the same code be stepped through
// on the host (thread by thread, barrier by barrier) when it has to be checked without a GPU.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "epilogue.h"

#define DBC_HD __host__ __device__ __forceinline__
// Full unrolling of the fixed-size loops on the device (keeps the accumulators in registers).
#ifdef __CUDA_ARCH__
#define DBC_UNROLL _Pragma("unroll")
#else
#define DBC_UNROLL
#endif

namespace deblurcore {
namespace cuda {
namespace detail {

DBC_HD int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

using EpilogueMath = ScalarEpilogueMath<float>;

// ---- convolution as an implicit GEMM ------------------------------------------------------
//
// out[co, pixel] = sum_k A[co, k] * B[k, pixel] with k = (ci, ky, kx) in weight order,
// pixel = (n, oy, ox), A the weight and B the im2col matrix of x, which is never stored: each
// element is gathered from x when its tile is loaded (zero outside the image, and for the
// transposed convolution zero where the tap does not land on an input pixel).
//
// A block of kConvThreads threads computes a kConvBM (output channels) x kConvBN (pixels)
// tile, stepping through k in slices of kConvBK that are staged in shared memory. Each thread
// owns a 4x4 sub-tile: channels ty*4..ty*4+3, pixels tx*4..tx*4+3.

constexpr int kConvBM = 64;
constexpr int kConvBN = 64;
constexpr int kConvBK = 16;
constexpr int kConvThreads = 256;
// Row length of the staged weight tile. The +4 spreads the loader's column writes over the
// shared-memory banks and keeps each row 16-byte aligned for the float4 reads.
constexpr int kConvBMP = kConvBM + 4;

static_assert(kConvThreads == (kConvBM / 4) * (kConvBN / 4), "one 4x4 sub-tile per thread");
static_assert(kConvBM * kConvBK == 4 * kConvThreads, "4 weight elements loaded per thread");
static_assert(kConvBK * kConvBN == 4 * kConvThreads, "4 input elements loaded per thread");

// Everything a convolution kernel needs. Spatial quantities are int (the wrapper checks that
// they and the sums formed from them fit); offsets that can exceed 2^31 are int64.
struct ConvGemmArgs {
  const float* x;
  const float* w;
  const float* bias;      // may be null
  const float* residual;  // may be null
  float* out;
  int Cin, H, W, Cout, kh, kw;
  int sh, sw, ph, pw, dh, dw;
  int Hout, Wout;
  int K;    // Cin * kh * kw
  int khw;  // kh * kw
  int HW;   // H * W
  int HWout;
  int64_t Npix;  // N * Hout * Wout, the GEMM's column count
  EpilogueParams epilogue;  // its scale / shift: (N, Cout) device pointers or null
};

// 4 consecutive floats of shared memory; on the device one 16-byte load (p is 16-byte aligned).
DBC_HD void load4(const float* p, float v[4]) {
#ifdef __CUDA_ARCH__
  const float4 q = *reinterpret_cast<const float4*>(p);
  v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
#else
  for (int i = 0; i < 4; ++i) v[i] = p[i];
#endif
}

// The state of one thread of a convolution block. Transposed selects conv_transpose2d (weight
// (Cin, Cout, kh, kw), scatter written as a gather) instead of conv2d (weight (Cout, Cin, kh, kw)).
template <bool Transposed>
struct ConvThread {
  int m0;      // first output channel of the block
  int64_t n0;  // first pixel of the block
  // Weight loader: column ak (k offset) of tile rows am, am+16, am+32, am+48.
  int ak, am;
  // Input loader: column bn (pixel) of tile rows bk, bk+4, bk+8, bk+12.
  int bn, bk;
  bool pixel_valid;
  const float* xn;  // x + start of this loader pixel's image
  int oy, ox;       // this loader pixel
  // Compute: sub-tile rows ty*4.., columns tx*4..
  int tx, ty;
  float acc[4][4];

  DBC_HD void init(const ConvGemmArgs& a, int64_t block_n, int block_m, int tid) {
    m0 = block_m * kConvBM;
    n0 = block_n * kConvBN;
    ak = tid % kConvBK;
    am = tid / kConvBK;
    bn = tid % kConvBN;
    bk = tid / kConvBN;
    tx = tid % (kConvBN / 4);
    ty = tid / (kConvBN / 4);
    const int64_t p = n0 + bn;
    pixel_valid = p < a.Npix;
    const int64_t pv = pixel_valid ? p : 0;
    const int64_t n = pv / a.HWout;
    const int rem = static_cast<int>(pv - n * a.HWout);
    oy = rem / a.Wout;
    ox = rem - oy * a.Wout;
    xn = a.x + n * a.Cin * static_cast<int64_t>(a.HW);
    DBC_UNROLL
    for (int i = 0; i < 4; ++i)
      DBC_UNROLL
      for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;
  }

  // Stages A[m0.., k0..k0+kConvBK) into As and B[k0.., n0..) into Bs (zeros out of range).
  DBC_HD void load(const ConvGemmArgs& a, int k0, float (*As)[kConvBMP],
                   float (*Bs)[kConvBN]) const {
    {
      const int k = k0 + ak;
      int ci = 0, t = 0;
      if (Transposed && k < a.K) {
        ci = k / a.khw;
        t = k - ci * a.khw;
      }
      DBC_UNROLL
      for (int i = 0; i < 4; ++i) {
        const int m = am + 16 * i, co = m0 + m;
        float v = 0.f;
        if (k < a.K && co < a.Cout) {
          if (Transposed)
            v = a.w[(static_cast<int64_t>(ci) * a.Cout + co) * a.khw + t];
          else
            v = a.w[static_cast<int64_t>(co) * a.K + k];
        }
        As[ak][m] = v;
      }
    }
    DBC_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int kr = bk + 4 * i, k = k0 + kr;
      float v = 0.f;
      if (pixel_valid && k < a.K) {
        const int ci = k / a.khw, t = k - ci * a.khw;
        const int ky = t / a.kw, kx = t - ky * a.kw;
        int iy, ix;
        bool inside;
        if (Transposed) {
          // Input (iy, ix) reaches output (oy, ox) through (ky, kx) when
          // oy = iy*sh - ph + ky*dh, i.e. iy = (oy + ph - ky*dh) / sh exactly.
          const int ty_ = oy + a.ph - ky * a.dh, tx_ = ox + a.pw - kx * a.dw;
          inside = ty_ >= 0 && tx_ >= 0 && ty_ % a.sh == 0 && tx_ % a.sw == 0;
          iy = inside ? ty_ / a.sh : 0;
          ix = inside ? tx_ / a.sw : 0;
          inside = inside && iy < a.H && ix < a.W;
        } else {
          iy = oy * a.sh - a.ph + ky * a.dh;
          ix = ox * a.sw - a.pw + kx * a.dw;
          inside = iy >= 0 && iy < a.H && ix >= 0 && ix < a.W;
        }
        if (inside) v = xn[static_cast<int64_t>(ci) * a.HW + (iy * a.W + ix)];
      }
      Bs[kr][bn] = v;
    }
  }

  // acc += As^T Bs over the staged k slice, k ascending.
  DBC_HD void compute(const float (*As)[kConvBMP], const float (*Bs)[kConvBN]) {
    DBC_UNROLL
    for (int kk = 0; kk < kConvBK; ++kk) {
      float av[4], bv[4];
      load4(&As[kk][ty * 4], av);
      load4(&Bs[kk][tx * 4], bv);
      DBC_UNROLL
      for (int i = 0; i < 4; ++i)
        DBC_UNROLL
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
  }

  DBC_HD void store(const ConvGemmArgs& a) const {
    DBC_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int co = m0 + ty * 4 + i;
      if (co >= a.Cout) continue;
      DBC_UNROLL
      for (int j = 0; j < 4; ++j) {
        const int64_t p = n0 + tx * 4 + j;
        if (p >= a.Npix) continue;
        const int64_t n = p / a.HWout, rem = p - n * a.HWout;
        const int64_t o = (n * a.Cout + co) * a.HWout + rem;
        a.out[o] = apply_epilogue_scalar<EpilogueMath>(a.epilogue, acc[i][j],
                                                       a.bias ? a.bias + co : nullptr,
                                                       n * a.Cout + co,
                                                       a.residual ? a.residual + o : nullptr);
      }
    }
  }
};

// ---- filter adaptive convolution --------------------------------------------------------
// xc: the (H, W) plane of channel c; kc: its k*k filter planes (tap t at kc + t*plane).

// out[y, x], summed as the official kernel does: from 0.0f, ky outer, kx inner, one fmaf per
// tap (the first tap therefore contributes the rounded product).
DBC_HD float fac_at(const float* xc, const float* kc, int H, int W, int k, int64_t plane,
                    int y, int x) {
  const int r = (k - 1) / 2;
  const int pix = y * W + x;
  float acc = 0.f;
  for (int ky = 0; ky < k; ++ky) {
    const float* xrow = xc + clamp_int(y + ky - r, 0, H - 1) * W;
    for (int kx = 0; kx < k; ++kx) {
      const float xv = xrow[clamp_int(x + kx - r, 0, W - 1)];
      const float kv = kc[static_cast<int64_t>(ky * k + kx) * plane + pix];
      acc = fmaf(xv, kv, acc);
    }
  }
  return acc;
}

// grad_kernel[t, y, x] = x[clamp(y+ky-r), clamp(x+kx-r)] * g[y, x]: one rounded product, which
// equals the reference's double product rounded to float.
DBC_HD float fac_grad_kernel_at(const float* xc, const float* gc, int H, int W, int k, int t,
                                int y, int x) {
  const int r = (k - 1) / 2;
  const int ky = t / k, kx = t - ky * k;
  const int sy = clamp_int(y + ky - r, 0, H - 1), sx = clamp_int(x + kx - r, 0, W - 1);
  return xc[sy * W + sx] * gc[y * W + x];
}

// grad_x[sy, sx] as a gather (race-free, deterministic). In the padded frame (H+2r, W+2r) the
// official backward computes, per padded position (Y, X),
//   gXp[Y, X] = sum_{ky, kx} kernel[ky*k+kx, Y-ky, X-kx] * g[Y-ky, X-kx]  (taps inside the image)
// from 0.0f with ky outer / kx inner fmaf, and the replicate padding's backward then adds onto
// each unpadded pixel the gXp of every padded position that copies it: rows Y with
// clamp(Y-r, 0, H-1) = sy (likewise columns). Interior pixels have exactly one such position, so
// their value is the official one bit for bit; border pixels add their positions row by row.
DBC_HD float fac_grad_x_at(const float* gc, const float* kc, int H, int W, int k, int64_t plane,
                           int sy, int sx) {
  const int r = (k - 1) / 2;
  const int y_lo = sy == 0 ? 0 : sy + r, y_hi = sy == H - 1 ? H - 1 + 2 * r : sy + r;
  const int x_lo = sx == 0 ? 0 : sx + r, x_hi = sx == W - 1 ? W - 1 + 2 * r : sx + r;
  float total = 0.f;
  for (int Y = y_lo; Y <= y_hi; ++Y)
    for (int X = x_lo; X <= x_hi; ++X) {
      float acc = 0.f;
      for (int ky = 0; ky < k; ++ky) {
        const int y = Y - ky;
        if (y < 0 || y >= H) continue;
        for (int kx = 0; kx < k; ++kx) {
          const int x = X - kx;
          if (x < 0 || x >= W) continue;
          const int pix = y * W + x;
          acc = fmaf(kc[static_cast<int64_t>(ky * k + kx) * plane + pix], gc[pix], acc);
        }
      }
      total += acc;
    }
  return total;
}

// ---- channel ops --------------------------------------------------------------------------

// Softmax over C values spaced `inner` apart, written to ys with the same spacing. The max is
// taken as the reference does (a NaN in the first channel propagates, later NaNs are skipped
// by the comparison and then show up through exp).
DBC_HD void softmax_column(const float* xs, float* ys, int64_t C, int64_t inner) {
  float m = xs[0];
  for (int64_t c = 1; c < C; ++c) {
    const float v = xs[c * inner];
    m = m < v ? v : m;
  }
  float sum = 0.f;
  for (int64_t c = 0; c < C; ++c) sum += expf(xs[c * inner] - m);
  for (int64_t c = 0; c < C; ++c) ys[c * inner] = expf(xs[c * inner] - m) / sum;
}

// Source index along one dimension for output index o of a padded dimension, -1 for the
// constant fill.
DBC_HD int64_t pad_source(int64_t o, int64_t before, int64_t size, PadMode mode) {
  const int64_t i = o - before;
  if (i >= 0 && i < size) return i;
  if (mode == PadMode::Replicate) return i < 0 ? 0 : size - 1;
  if (mode == PadMode::Reflect) return i < 0 ? -i : 2 * (size - 1) - i;
  if (mode == PadMode::Symmetric) return i < 0 ? -i - 1 : 2 * size - 1 - i;
  return -1;
}

}  // namespace detail
}  // namespace cuda
}  // namespace deblurcore
