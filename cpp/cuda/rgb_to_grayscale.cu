// rgb_to_grayscale on CUDA: the reference's float32 expression (no fused multiply-add, so the
// result is bit-identical to the CPU's).
#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {
__global__ void grayscale_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t N,
                                 int64_t HW) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < N * HW;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = idx / HW, i = idx - n * HW;
    const float* r = x + n * 3 * HW;
    const float rg = __fadd_rn(__fmul_rn(0.2989f, r[i]), __fmul_rn(0.5870f, r[HW + i]));
    out[idx] = __fadd_rn(rg, __fmul_rn(0.1140f, r[2 * HW + i]));
  }
}
}  // namespace

void rgb_to_grayscale(const Context& ctx, const GrayscaleParams& p, const float* x, float* out) {
  grayscale_kernel<<<grid_for(p.N * p.HW), kThreads, 0, stream_of(ctx)>>>(x, out, p.N, p.HW);
  check_launch("rgb_to_grayscale");
}

}  // namespace cuda
}  // namespace deblurcore
