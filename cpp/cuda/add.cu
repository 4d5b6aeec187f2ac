// add on CUDA: one thread per element in a grid-stride loop with 64-bit indices.
#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {

__global__ void add_kernel(const float* __restrict__ a, const float* __restrict__ b,
                           float* __restrict__ out, int64_t n) {
  DBC_GRID_STRIDE(i, n) { out[i] = a[i] + b[i]; }
}

}  // namespace

void add(const Context& ctx, const float* a, const float* b, float* out, int64_t n) {
  if (n <= 0) return;
  add_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(a, b, out, n);
  check_launch("add");
}

}  // namespace cuda
}  // namespace deblurcore
