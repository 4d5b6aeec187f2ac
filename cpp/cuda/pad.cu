// pad on CUDA: one thread per element in a grid-stride loop with 64-bit indices.
#include "backends.h"
#include "cuda/cuda_check.h"
#include "cuda/device_common.cuh"

namespace deblurcore {
namespace cuda {

namespace detail {

// Source index along one dimension for output index o of a padded dimension, -1 for the
// constant fill.
DBC_HD int64_t pad_source(int64_t o, int64_t before, int64_t size, PadMode mode) {
  const int64_t i = o - before;
  if (i >= 0 && i < size) return i;
  if (mode == PadMode::Replicate) return i < 0 ? 0 : size - 1;
  if (mode == PadMode::Reflect) return i < 0 ? -i : 2 * (size - 1) - i;
  if (mode == PadMode::Symmetric) return i < 0 ? -i - 1 : 2 * size - 1 - i;
  return -1;
}

}  // namespace detail

namespace {

__global__ void pad_kernel(const PadParams p, const float* __restrict__ x,
                           float* __restrict__ out) {
  const int64_t plane_out = p.Hout * p.Wout;
  DBC_GRID_STRIDE(i, p.N * p.C * plane_out) {
    const int64_t nc = i / plane_out, rem = i - nc * plane_out;
    const int64_t oy = rem / p.Wout, ox = rem - oy * p.Wout;
    const int64_t sy = detail::pad_source(oy, p.top, p.H, p.mode);
    const int64_t sx = detail::pad_source(ox, p.left, p.W, p.mode);
    out[i] = (sy < 0 || sx < 0) ? p.value : x[(nc * p.H + sy) * p.W + sx];
  }
}

}  // namespace

void pad(const Context& ctx, const PadParams& p, const float* x, float* out) {
  const int64_t n = p.N * p.C * p.Hout * p.Wout;
  if (n <= 0) return;
  pad_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(p, x, out);
  check_launch("pad");
}

}  // namespace cuda
}  // namespace deblurcore
