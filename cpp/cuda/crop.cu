// crop on CUDA: one thread per output element.
#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {
__global__ void crop_kernel(const float* __restrict__ x, float* __restrict__ out,
                            const CropParams p) {
  const int64_t n = p.N * p.C * p.height * p.width;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t col = idx % p.width, row = (idx / p.width) % p.height;
    const int64_t nc = idx / (p.width * p.height);
    out[idx] = x[(nc * p.H + p.top + row) * p.W + p.left + col];
  }
}
}  // namespace

void crop(const Context& ctx, const CropParams& p, const float* x, float* out) {
  crop_kernel<<<grid_for(p.N * p.C * p.height * p.width), kThreads, 0, stream_of(ctx)>>>(x, out, p);
  check_launch("crop");
}

}  // namespace cuda
}  // namespace deblurcore
