// conv2d and conv_transpose2d on CUDA share one implicit-GEMM kernel with the fused epilogue
// of epilogue.h (bias, per-sample scale and shift, activation, residual). fp32 throughout, fmaf
// accumulation in k order (channel-major, then ky, kx); no TF32. The transposed convolution
// uses the same gather, so with stride s it multiplies the zeros of the taps that do not land
// on an input pixel too (about s_h*s_w times the useful work).
#pragma once

#include <climits>

#include "backends.h"
#include "cuda/cuda_check.h"
#include "cuda/device_common.cuh"

namespace deblurcore {
namespace cuda {
namespace detail {

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
  int64_t Npix;             // N * Hout * Wout, the GEMM's column count
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
    for (int i = 0; i < 4; ++i) DBC_UNROLL
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
      for (int i = 0; i < 4; ++i) DBC_UNROLL
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
        a.out[o] = apply_epilogue_scalar<EpilogueMath>(
            a.epilogue, acc[i][j], a.bias ? a.bias + co : nullptr, n * a.Cout + co,
            a.residual ? a.residual + o : nullptr);
      }
    }
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace deblurcore

namespace deblurcore {
namespace cuda {
namespace conv_gemm {

// The kernel: a grid of (pixel blocks, channel blocks), k sliced through shared memory.
template <bool Transposed>
__global__ void __launch_bounds__(detail::kConvThreads)
    conv_gemm_kernel(const detail::ConvGemmArgs a) {
  __shared__ __align__(16) float As[detail::kConvBK][detail::kConvBMP];
  __shared__ __align__(16) float Bs[detail::kConvBK][detail::kConvBN];
  detail::ConvThread<Transposed> t;
  t.init(a, blockIdx.x, blockIdx.y, threadIdx.x);
  for (int k0 = 0; k0 < a.K; k0 += detail::kConvBK) {
    t.load(a, k0, As, Bs);
    __syncthreads();
    t.compute(As, Bs);
    __syncthreads();
  }
  t.store(a);
}

// Fills the int fields of detail::ConvGemmArgs after checking that the kernel's 32-bit index
// arithmetic cannot overflow for these shapes.
template <typename P>
detail::ConvGemmArgs make_args(const char* op, const P& p, bool transposed) {
  const int64_t K = p.Cin * p.kh * p.kw;
  const int64_t reach_h = transposed ? p.Hout + p.ph + p.dh * p.kh : p.H + 2 * p.ph + p.dh * p.kh;
  const int64_t reach_w = transposed ? p.Wout + p.pw + p.dw * p.kw : p.W + 2 * p.pw + p.dw * p.kw;
  const int64_t checks[] = {K,
                            p.Cout,
                            p.H * p.W,
                            p.Hout * p.Wout,
                            p.Hout * p.sh + reach_h,
                            reach_h,
                            reach_w,
                            p.Wout * p.sw + reach_w};
  for (int64_t v : checks)
    check<RuntimeError>(fits_int32(v), op, ": shape too large for the CUDA kernel (x: N=", p.N,
                        " C=", p.Cin, " H=", p.H, " W=", p.W, ", weight ", p.kh, "x", p.kw, ", ",
                        p.Cout, " output channels)");
  detail::ConvGemmArgs a{};
  a.Cin = int(p.Cin), a.H = int(p.H), a.W = int(p.W), a.Cout = int(p.Cout);
  a.kh = int(p.kh), a.kw = int(p.kw);
  a.sh = int(p.sh), a.sw = int(p.sw), a.ph = int(p.ph), a.pw = int(p.pw);
  a.dh = int(p.dh), a.dw = int(p.dw);
  a.Hout = int(p.Hout), a.Wout = int(p.Wout);
  a.K = int(K), a.khw = int(p.kh * p.kw);
  a.HW = int(p.H * p.W), a.HWout = int(p.Hout * p.Wout);
  a.Npix = p.N * p.Hout * p.Wout;
  a.epilogue = p.epilogue;
  return a;
}

template <bool Transposed>
void launch(const Context& ctx, const char* op, const detail::ConvGemmArgs& a) {
  const int64_t blocks_n = (a.Npix + detail::kConvBN - 1) / detail::kConvBN;
  const int64_t blocks_m = (int64_t(a.Cout) + detail::kConvBM - 1) / detail::kConvBM;
  check<RuntimeError>(blocks_n <= INT_MAX && blocks_m <= 65535, op,
                      ": output too large for the CUDA kernel's grid (", a.Npix, " pixels, ",
                      a.Cout, " channels)");
  const dim3 grid(static_cast<unsigned>(blocks_n), static_cast<unsigned>(blocks_m));
  conv_gemm_kernel<Transposed><<<grid, detail::kConvThreads, 0, stream_of(ctx)>>>(a);
  check_launch(op);
}

}  // namespace conv_gemm
}  // namespace cuda
}  // namespace deblurcore
