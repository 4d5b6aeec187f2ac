// normalize_l1 on CUDA: one block per sample, the L1 norm summed in double.
#include "backends.h"
#include "cuda/cuda_check.h"
#include "cuda/reduce.cuh"

namespace deblurcore {
namespace cuda {

namespace {
__global__ void normalize_l1_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t n,
                                    float eps) {
  const float* xs = x + blockIdx.x * n;
  float* os = out + blockIdx.x * n;
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += fabs(double(xs[i]));
  const double denom = block_sum(s) + double(eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    os[i] = static_cast<float>(double(xs[i]) / denom);
}
}  // namespace

void normalize_l1(const Context& ctx, const NormalizeL1Params& p, const float* x, float* out) {
  check(p.N <= INT32_MAX, "normalize_l1: too many samples for one CUDA launch");
  normalize_l1_kernel<<<static_cast<unsigned>(p.N), kReduceThreads, 0, stream_of(ctx)>>>(
      x, out, p.sample_size, p.eps);
  check_launch("normalize_l1");
}

}  // namespace cuda
}  // namespace deblurcore
