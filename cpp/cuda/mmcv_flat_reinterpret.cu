// CUDA kernel of mmcv_flat_reinterpret: one thread per output element (grid-stride).
#include <algorithm>

#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {

__global__ void mmcv_flat_reinterpret_kernel(const float* __restrict__ x, float* __restrict__ out,
                                             int64_t total, int64_t in_numel, int64_t out_numel) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < total;
       j += int64_t(blockDim.x) * gridDim.x) {
    const int64_t n = j / out_numel, i = j - n * out_numel;
    out[j] = i < in_numel ? x[n * in_numel + i] : 0.f;
  }
}

}  // namespace

void mmcv_flat_reinterpret(const Context& ctx, const MmcvFlatReinterpretParams& p, const float* x,
                           float* out) {
  const int64_t total = p.N * p.out_numel;
  if (total <= 0) return;
  constexpr int kThreads = 256;
  const unsigned blocks =
      static_cast<unsigned>(std::min<int64_t>((total + kThreads - 1) / kThreads, 65535));
  mmcv_flat_reinterpret_kernel<<<blocks, kThreads, 0, stream_of(ctx)>>>(x, out, total, p.in_numel,
                                                                        p.out_numel);
  check_launch("mmcv_flat_reinterpret");
}

}  // namespace cuda
}  // namespace deblurcore
