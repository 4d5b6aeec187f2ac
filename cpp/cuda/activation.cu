// activation on CUDA: one thread per element in a grid-stride loop with 64-bit indices.
#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {

__global__ void activation_kernel(Activation act, float slope, const float* __restrict__ x,
                                  float* __restrict__ out, int64_t n) {
  DBC_GRID_STRIDE(i, n) {
    const float v = x[i];
    if (act == Activation::ReLU)
      out[i] = v < 0.f ? 0.f : v;  // as torch.relu and the reference: -0 and NaN pass through
    else if (act == Activation::LeakyReLU)
      out[i] = v > 0.f ? v : v * slope;
    else
      out[i] = v;
  }
}

}  // namespace

void activation(const Context& ctx, Activation act, float negative_slope, const float* x,
                float* out, int64_t n) {
  if (n <= 0) return;
  activation_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(act, negative_slope, x, out, n);
  check_launch("activation");
}

}  // namespace cuda
}  // namespace deblurcore
