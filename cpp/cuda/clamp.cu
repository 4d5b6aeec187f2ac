// clamp on CUDA: one thread per element in a grid-stride loop with 64-bit indices.
#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {

// NaN stays NaN; otherwise min(max(v, lo), hi) with the comparisons of std::max / std::min.
__global__ void clamp_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t n,
                             float lo, float hi) {
  DBC_GRID_STRIDE(i, n) {
    const float v = x[i];
    if (isnan(v)) {
      out[i] = v;
    } else {
      const float m = v < lo ? lo : v;
      out[i] = hi < m ? hi : m;
    }
  }
}

}  // namespace

void clamp(const Context& ctx, const float* x, float* out, int64_t n, float lo, float hi) {
  if (n <= 0) return;
  clamp_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(x, out, n, lo, hi);
  check_launch("clamp");
}

}  // namespace cuda
}  // namespace deblurcore
