// sigmoid on CUDA: one thread per element in a grid-stride loop with 64-bit indices.
#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {

__global__ void sigmoid_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t n) {
  DBC_GRID_STRIDE(i, n) { out[i] = 1.f / (1.f + expf(-x[i])); }
}

}  // namespace

void sigmoid(const Context& ctx, const float* x, float* out, int64_t n) {
  if (n <= 0) return;
  sigmoid_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(x, out, n);
  check_launch("sigmoid");
}

}  // namespace cuda
}  // namespace deblurcore
