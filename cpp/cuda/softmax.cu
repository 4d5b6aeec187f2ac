// softmax on CUDA: one thread per element in a grid-stride loop with 64-bit indices.
#include "backends.h"
#include "cuda/cuda_check.h"
#include "cuda/device_common.cuh"

namespace deblurcore {
namespace cuda {

namespace detail {

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

}  // namespace detail

namespace {

// One thread per (outer, inner) column; neighbouring threads read neighbouring addresses.
__global__ void softmax_kernel(const SoftmaxParams p, const float* __restrict__ x,
                               float* __restrict__ out) {
  DBC_GRID_STRIDE(col, p.outer * p.inner) {
    const int64_t o = col / p.inner, i = col - o * p.inner;
    const int64_t base = o * p.C * p.inner + i;
    detail::softmax_column(x + base, out + base, p.C, p.inner);
  }
}

}  // namespace

void softmax(const Context& ctx, const SoftmaxParams& p, const float* x, float* out) {
  const int64_t n = p.outer * p.inner;
  if (n <= 0 || p.C <= 0) return;
  softmax_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(p, x, out);
  check_launch("softmax");
}

}  // namespace cuda
}  // namespace deblurcore
