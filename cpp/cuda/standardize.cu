// standardize on CUDA: one block per plane, mean and variance summed in double.
#include "backends.h"
#include "cuda/cuda_check.h"
#include "cuda/reduce.cuh"

namespace deblurcore {
namespace cuda {

namespace {
__global__ void standardize_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t n,
                                   float eps) {
  const float* xp = x + blockIdx.x * n;
  float* op = out + blockIdx.x * n;
  double mean, var;
  block_mean_var(xp, n, mean, var);
  const double inv = 1.0 / sqrt(var + double(eps));
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    op[i] = static_cast<float>((double(xp[i]) - mean) * inv);
}
}  // namespace

void standardize(const Context& ctx, const StandardizeParams& p, const float* x, float* out) {
  check(p.planes <= INT32_MAX, "standardize: too many planes for one CUDA launch");
  standardize_kernel<<<static_cast<unsigned>(p.planes), kReduceThreads, 0, stream_of(ctx)>>>(
      x, out, p.plane_size, p.eps);
  check_launch("standardize");
}

}  // namespace cuda
}  // namespace deblurcore
