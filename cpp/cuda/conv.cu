// conv2d and conv_transpose2d on CUDA: one implicit-GEMM kernel (kernel_bodies.cuh) with the
// fused epilogue of epilogue.h (bias, per-sample scale and shift, activation, residual).
// fp32 throughout, fmaf accumulation in k order (channel-major, then ky, kx); no TF32.
//
// The transposed convolution uses the same gather, so with stride s it multiplies the zeros of
// the taps that do not land on an input pixel too (about s_h*s_w times the useful work).
#include "backends.h"
#include "cuda/cuda_check.h"
#include "cuda/kernel_bodies.cuh"

namespace deblurcore {
namespace cuda {

namespace {

using detail::ConvGemmArgs;
using detail::kConvBK;
using detail::kConvBM;
using detail::kConvBMP;
using detail::kConvBN;
using detail::kConvThreads;

template <bool Transposed>
__global__ void __launch_bounds__(kConvThreads) conv_gemm_kernel(const ConvGemmArgs a) {
  __shared__ __align__(16) float As[kConvBK][kConvBMP];
  __shared__ __align__(16) float Bs[kConvBK][kConvBN];
  detail::ConvThread<Transposed> t;
  t.init(a, blockIdx.x, blockIdx.y, threadIdx.x);
  for (int k0 = 0; k0 < a.K; k0 += kConvBK) {
    t.load(a, k0, As, Bs);
    __syncthreads();
    t.compute(As, Bs);
    __syncthreads();
  }
  t.store(a);
}

// Fills the int fields of ConvGemmArgs after checking that the kernel's 32-bit index
// arithmetic cannot overflow for these shapes.
template <typename P>
ConvGemmArgs make_args(const char* op, const P& p, bool transposed) {
  const int64_t K = p.Cin * p.kh * p.kw;
  const int64_t reach_h = transposed ? p.Hout + p.ph + p.dh * p.kh : p.H + 2 * p.ph + p.dh * p.kh;
  const int64_t reach_w = transposed ? p.Wout + p.pw + p.dw * p.kw : p.W + 2 * p.pw + p.dw * p.kw;
  const int64_t checks[] = {K,       p.Cout,  p.H * p.W, p.Hout * p.Wout, p.Hout * p.sh + reach_h,
                            reach_h, reach_w, p.Wout * p.sw + reach_w};
  for (int64_t v : checks)
    check<RuntimeError>(fits_int32(v), op, ": shape too large for the CUDA kernel (x: N=", p.N,
                        " C=", p.Cin, " H=", p.H, " W=", p.W, ", weight ", p.kh, "x", p.kw,
                        ", ", p.Cout, " output channels)");
  ConvGemmArgs a{};
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
void launch(const Context& ctx, const char* op, const ConvGemmArgs& a) {
  const int64_t blocks_n = (a.Npix + kConvBN - 1) / kConvBN;
  const int64_t blocks_m = (int64_t(a.Cout) + kConvBM - 1) / kConvBM;
  check<RuntimeError>(blocks_n <= INT_MAX && blocks_m <= 65535, op,
                      ": output too large for the CUDA kernel's grid (", a.Npix, " pixels, ",
                      a.Cout, " channels)");
  const dim3 grid(static_cast<unsigned>(blocks_n), static_cast<unsigned>(blocks_m));
  conv_gemm_kernel<Transposed><<<grid, kConvThreads, 0, stream_of(ctx)>>>(a);
  check_launch(op);
}

}  // namespace

void conv2d(const Context& ctx, const Conv2dParams& p, const float* x, const float* weight,
            const float* bias, const float* residual, float* out) {
  ConvGemmArgs a = make_args("conv2d", p, false);
  a.x = x, a.w = weight, a.bias = bias, a.residual = residual, a.out = out;
  launch<false>(ctx, "conv2d", a);
}

void conv_transpose2d(const Context& ctx, const ConvTranspose2dParams& p, const float* x,
                      const float* weight, const float* bias, const float* residual, float* out) {
  ConvGemmArgs a = make_args("conv_transpose2d", p, true);
  a.x = x, a.w = weight, a.bias = bias, a.residual = residual, a.out = out;
  launch<true>(ctx, "conv_transpose2d", a);
}

}  // namespace cuda
}  // namespace deblurcore
