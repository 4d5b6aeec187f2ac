// linear on CUDA: one warp per output element; lanes stride over the input features
// (coalesced reads of x and of the weight row), float32 sums combined by shuffles.
#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {
__global__ void linear_kernel(const float* __restrict__ x, const float* __restrict__ w,
                              const float* __restrict__ bias, float* __restrict__ out,
                              const LinearParams p) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t o = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; o < p.N * p.out_features;
       o += warps) {
    const int64_t n = o / p.out_features, f = o - n * p.out_features;
    const float* xr = x + n * p.in_features;
    const float* wr = w + f * p.in_features;
    float s = 0.f;
    for (int64_t i = lane; i < p.in_features; i += 32) s = fmaf(xr[i], wr[i], s);
    for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
    if (lane == 0) {
      float v = s + (bias ? bias[f] : 0.f);
      if (p.activation == Activation::ReLU) v = v < 0.f ? 0.f : v;
      out[o] = v;
    }
  }
}
}  // namespace

void linear(const Context& ctx, const LinearParams& p, const float* x, const float* weight,
            const float* bias, float* out) {
  const int64_t threads = p.N * p.out_features * 32;
  linear_kernel<<<grid_for(threads), kThreads, 0, stream_of(ctx)>>>(x, weight, bias, out, p);
  check_launch("linear");
}

}  // namespace cuda
}  // namespace deblurcore
