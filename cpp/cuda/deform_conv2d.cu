// deform_conv2d on CUDA.
//
// deform_conv2d is one implicit-GEMM kernel: out (Cout x pixels) = W (Cout x K) @ columns
// (K x pixels), K = Cin*kh*kw, where a tile of the column matrix is built in shared memory
// from bilinear samples as it is needed (no im2col buffer in global memory). A block computes
// 64 output channels x 64 pixels (pixels run over the whole batch), each thread a 4 x 4
// sub-tile, stepping through K in chunks of 16. fp32 throughout, fmaf accumulation in k order;
// bias and the epilogue are applied at the end, as in the CPU kernels.
#include "backends.h"
#include "cuda/cuda_check.h"
#include "epilogue.h"

namespace deblurcore {
namespace cuda {

namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kTM = 4, kTN = 4;
constexpr int kBlockThreads = (kBM / kTM) * (kBN / kTN);  // 256

struct DeformArgs {
  int Cin, H, W, Cout, kh, kw, sh, sw, ph, pw, dh, dw, Hout, Wout;
  int K, taps, groups, cpg, HW, HWout;
  int64_t Npix;  // N * Hout * Wout
  EpilogueParams epilogue;
};

// Bilinear sample with zero padding (torchvision / mmcv rule).
__device__ __forceinline__ float sample(const float* plane, int H, int W, float py, float px) {
  if (!(py > -1.f && px > -1.f && py < float(H) && px < float(W))) return 0.f;
  const float fy = floorf(py), fx = floorf(px);
  const int y0 = int(fy), x0 = int(fx);
  const float ly = py - fy, lx = px - fx, hy = 1.f - ly, hx = 1.f - lx;
  float v00 = 0.f, v01 = 0.f, v10 = 0.f, v11 = 0.f;
  if (y0 >= 0 && x0 >= 0) v00 = plane[y0 * W + x0];
  if (y0 >= 0 && x0 + 1 <= W - 1) v01 = plane[y0 * W + x0 + 1];
  if (y0 + 1 <= H - 1 && x0 >= 0) v10 = plane[(y0 + 1) * W + x0];
  if (y0 + 1 <= H - 1 && x0 + 1 <= W - 1) v11 = plane[(y0 + 1) * W + x0 + 1];
  return hy * hx * v00 + hy * lx * v01 + ly * hx * v10 + ly * lx * v11;
}

__global__ void __launch_bounds__(kBlockThreads)
    deform_gemm_kernel(const DeformArgs a, const float* __restrict__ x,
                       const float* __restrict__ offset, const float* __restrict__ mask,
                       const float* __restrict__ weight, const float* __restrict__ bias,
                       const float* __restrict__ residual, float* __restrict__ out) {
  __shared__ float As[kBK][kBM];
  __shared__ float Bs[kBK][kBN];
  const int tid = threadIdx.x;
  const int tx = tid % (kBN / kTN), ty = tid / (kBN / kTN);
  const int64_t pix0 = int64_t(blockIdx.x) * kBN;
  const int co0 = blockIdx.y * kBM;

  // The pixel this thread samples for the B tile (one column, kBK*kBN/kBlockThreads rows).
  const int b_col = tid % kBN, b_row0 = tid / kBN;  // rows b_row0, b_row0 + 4, ...
  const int64_t my_pix = pix0 + b_col;
  const bool pix_ok = my_pix < a.Npix;
  int n = 0, oy = 0, ox = 0, pix_in_img = 0;
  if (pix_ok) {
    n = int(my_pix / a.HWout);
    pix_in_img = int(my_pix % a.HWout);
    oy = pix_in_img / a.Wout;
    ox = pix_in_img % a.Wout;
  }

  float acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = 0.f;

  for (int k0 = 0; k0 < a.K; k0 += kBK) {
    // A tile: weight[co0 + m][k0 + kk], 1024 values, 4 per thread.
    for (int e = tid; e < kBK * kBM; e += kBlockThreads) {
      const int m = e / kBK, kk = e % kBK;
      const int co = co0 + m, k = k0 + kk;
      As[kk][m] = (co < a.Cout && k < a.K) ? weight[int64_t(co) * a.K + k] : 0.f;
    }
    // B tile: the modulated bilinear samples of rows k0.. for this thread's pixel.
    for (int kk = b_row0; kk < kBK; kk += kBlockThreads / kBN) {
      const int k = k0 + kk;
      float v = 0.f;
      if (pix_ok && k < a.K) {
        const int c = k / a.taps, tap = k % a.taps, g = c / a.cpg;
        const int ky = tap / a.kw, kxx = tap % a.kw;
        const float* off = offset + (int64_t(n) * a.groups + g) * 2 * a.taps * a.HWout;
        const float py =
            float(oy * a.sh - a.ph + ky * a.dh) + off[(2 * tap) * a.HWout + pix_in_img];
        const float px =
            float(ox * a.sw - a.pw + kxx * a.dw) + off[(2 * tap + 1) * a.HWout + pix_in_img];
        v = sample(x + (int64_t(n) * a.Cin + c) * a.HW, a.H, a.W, py, px);
        if (mask) v *= mask[((int64_t(n) * a.groups + g) * a.taps + tap) * a.HWout + pix_in_img];
      }
      Bs[kk][b_col] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float av[kTM], bv[kTN];
#pragma unroll
      for (int i = 0; i < kTM; ++i) av[i] = As[kk][ty * kTM + i];
#pragma unroll
      for (int j = 0; j < kTN; ++j) bv[j] = Bs[kk][tx * kTN + j];
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const int co = co0 + ty * kTM + i;
    if (co >= a.Cout) continue;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const int64_t pix = pix0 + tx * kTN + j;
      if (pix >= a.Npix) continue;
      const int64_t img = pix / a.HWout, in_img = pix % a.HWout;
      const int64_t o = (img * a.Cout + co) * a.HWout + in_img;
      out[o] = apply_epilogue_scalar<ScalarEpilogueMath<float>>(
          a.epilogue, acc[i][j], bias ? bias + co : nullptr, img * a.Cout + co,
          residual ? residual + o : nullptr);
    }
  }
}

}  // namespace

void deform_conv2d(const Context& ctx, const DeformConv2dParams& p, const float* x,
                   const float* offset, const float* mask, const float* weight, const float* bias,
                   const float* residual, float* out) {
  const char* op = "deform_conv2d";
  const int64_t K = p.Cin * p.kh * p.kw;
  const int64_t checks[] = {K,
                            p.Cout,
                            p.H * p.W,
                            p.Hout * p.Wout,
                            p.H + 2 * p.ph + p.dh * p.kh,
                            p.W + 2 * p.pw + p.dw * p.kw,
                            p.Hout * p.sh + p.dh * p.kh,
                            p.Wout * p.sw + p.dw * p.kw};
  for (int64_t v : checks)
    check<RuntimeError>(fits_int32(v), op, ": shape too large for the CUDA kernel (x: N=", p.N,
                        " C=", p.Cin, " H=", p.H, " W=", p.W, ", ", p.Cout, " output channels)");
  DeformArgs a{};
  a.Cin = int(p.Cin), a.H = int(p.H), a.W = int(p.W), a.Cout = int(p.Cout);
  a.kh = int(p.kh), a.kw = int(p.kw);
  a.sh = int(p.sh), a.sw = int(p.sw), a.ph = int(p.ph), a.pw = int(p.pw);
  a.dh = int(p.dh), a.dw = int(p.dw);
  a.Hout = int(p.Hout), a.Wout = int(p.Wout);
  a.K = int(K), a.taps = int(p.kh * p.kw);
  a.groups = int(p.offset_groups), a.cpg = int(p.Cin / p.offset_groups);
  a.HW = int(p.H * p.W), a.HWout = int(p.Hout * p.Wout);
  a.Npix = p.N * p.Hout * p.Wout;
  a.epilogue = p.epilogue;

  const int64_t blocks_n = (a.Npix + kBN - 1) / kBN;
  const int64_t blocks_m = (p.Cout + kBM - 1) / kBM;
  check<RuntimeError>(blocks_n <= INT_MAX && blocks_m <= 65535, op,
                      ": output too large for the CUDA kernel's grid (", a.Npix, " pixels, ",
                      p.Cout, " channels)");
  const dim3 grid(static_cast<unsigned>(blocks_n), static_cast<unsigned>(blocks_m));
  deform_gemm_kernel<<<grid, kBlockThreads, 0, stream_of(ctx)>>>(a, x, offset, mask, weight, bias,
                                                                 residual, out);
  check_launch(op);
}

}  // namespace cuda
}  // namespace deblurcore
