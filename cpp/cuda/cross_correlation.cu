// cross_correlation on CUDA: standardise every channel (one block per plane, double sums),
// one batched cuFFT R2C of all N*C channels, then per sample the pairs in chunks: spectra
// products A_i conj(A_j), one batched C2R of the chunk, and the (2m+1)^2 window (and its
// flipped copy) gathered from each map. The chunk's full maps are the only large scratch; its
// size is capped so the scratch stays around 256 MB.
#if DEBLURCORE_WITH_CUFFT
#include <algorithm>
#include <memory>

#include "backends.h"
#include "cuda/cufft_util.h"
#include "cuda/reduce.cuh"

namespace deblurcore {
namespace cuda {

namespace {

// a = (x - mean) / (sigma sqrt(HW)), or 0 where sigma < 1e-9; one block per plane.
__global__ void cc_standardize_kernel(const float* __restrict__ x, float* __restrict__ a,
                                      int64_t HW) {
  const float* xp = x + blockIdx.x * HW;
  float* ap = a + blockIdx.x * HW;
  double mean, var;
  block_mean_var(xp, HW, mean, var);
  const double sigma = sqrt(var);
  const double inv = sigma < 1e-9 ? 0.0 : 1.0 / (sigma * sqrt(double(HW)));
  for (int64_t i = threadIdx.x; i < HW; i += blockDim.x)
    ap[i] = static_cast<float>((double(xp[i]) - mean) * inv);
}

// (i, j) of pair index `pair` in the i-major enumeration of i <= j < C.
__device__ inline void pair_of(int64_t pair, int64_t C, int64_t& i, int64_t& j) {
  i = 0;
  while (pair >= C - i) pair -= C - i, ++i;
  j = i + pair;
}

__global__ void cc_product_kernel(const float2* __restrict__ spectra, float2* __restrict__ prod,
                                  int64_t C, int64_t HWc, int64_t first_pair, int64_t count) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < count * HWc;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t g = idx / HWc, e = idx - g * HWc;
    int64_t i, j;
    pair_of(first_pair + g, C, i, j);
    const float2 a = spectra[i * HWc + e], b = spectra[j * HWc + e];
    prod[idx] = make_float2(a.x * b.x + a.y * b.y, a.y * b.x - a.x * b.y);
  }
}

__global__ void cc_window_kernel(const float* __restrict__ maps, float* __restrict__ out,
                                 const CrossCorrelationParams p, int64_t first_pair, int64_t count,
                                 float scale) {
  const int64_t R = p.window, RR = R * R;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < count * RR;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t g = idx / RR, rc = idx - g * RR, r = rc / R, c = rc - r * R;
    const int64_t y = ((r - p.max_shift) % p.H + p.H) % p.H;
    const int64_t x = ((c - p.max_shift) % p.W + p.W) % p.W;
    const float v = maps[g * p.H * p.W + y * p.W + x] * scale;
    const int64_t pair = first_pair + g;
    out[pair * RR + rc] = v;
    if (p.add_flips) out[(p.pairs + pair) * RR + (R - 1 - r) * R + (R - 1 - c)] = v;
  }
}

}  // namespace

void cross_correlation(const Context& ctx, const CrossCorrelationParams& p, const float* x,
                       float* out) {
  const cudaStream_t s = stream_of(ctx);
  const int64_t HW = p.H * p.W, HWc = p.H * (p.W / 2 + 1), RR = p.window * p.window;
  const int64_t planes = p.N * p.C;
  check(planes <= INT32_MAX, "cross_correlation: too many channels for one CUDA launch");
  Tensor a = ctx.empty({planes * HW});
  cc_standardize_kernel<<<static_cast<unsigned>(planes), kReduceThreads, 0, s>>>(x, a.data(), HW);
  check_launch("cross_correlation standardize");
  Tensor spectra = ctx.empty({planes * HWc * 2});
  {
    Fft2dPlan forward(ctx, p.H, p.W, planes, CUFFT_R2C);
    check_cufft(
        cufftExecR2C(forward.get(), a.data(), reinterpret_cast<cufftComplex*>(spectra.data())),
        "cufftExecR2C");
  }
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(p.pairs, (int64_t(1) << 26) / HW));
  Tensor prod = ctx.empty({chunk * HWc * 2});
  Tensor maps = ctx.empty({chunk * HW});
  Fft2dPlan inverse(ctx, p.H, p.W, chunk, CUFFT_C2R);
  const int64_t tail = p.pairs % chunk;
  std::unique_ptr<Fft2dPlan> inverse_tail;
  if (tail) inverse_tail = std::make_unique<Fft2dPlan>(ctx, p.H, p.W, tail, CUFFT_C2R);
  const float scale = static_cast<float>(1.0 / double(HW));
  const int64_t out_channels = p.pairs * (p.add_flips ? 2 : 1);
  for (int64_t n = 0; n < p.N; ++n) {
    const float2* spec_n = reinterpret_cast<const float2*>(spectra.data()) + n * p.C * HWc;
    float* out_n = out + n * out_channels * RR;
    for (int64_t first = 0; first < p.pairs; first += chunk) {
      const int64_t count = std::min(chunk, p.pairs - first);
      cc_product_kernel<<<grid_for(count * HWc), kThreads, 0, s>>>(
          spec_n, reinterpret_cast<float2*>(prod.data()), p.C, HWc, first, count);
      check_launch("cross_correlation product");
      const Fft2dPlan& plan = count == chunk ? inverse : *inverse_tail;
      check_cufft(
          cufftExecC2R(plan.get(), reinterpret_cast<cufftComplex*>(prod.data()), maps.data()),
          "cufftExecC2R");
      cc_window_kernel<<<grid_for(count * RR), kThreads, 0, s>>>(maps.data(), out_n, p, first,
                                                                 count, scale);
      check_launch("cross_correlation window");
    }
  }
  // The scratch tensors are released when this returns: wait for the queued work first.
  check_cuda(cudaStreamSynchronize(s), "cross_correlation");
}

}  // namespace cuda
}  // namespace deblurcore

#else  // a CUDA toolkit without cuFFT

#include "backends.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cuda {

void cross_correlation(const Context&, const CrossCorrelationParams&, const float*, float*) {
  fail<RuntimeError>("cross_correlation: deblurcore's CUDA backend was built without cuFFT");
}

}  // namespace cuda
}  // namespace deblurcore

#endif
