// weighted_sum on CUDA: one thread per output element; up to kMaxBlend inputs per launch, the
// float32 sum carried over in the output between launches, products rounded before each
// addition (__fadd_rn, no contraction into an FMA), as the CPU kernels compute it.
#include <algorithm>

#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {

constexpr int kMaxBlend = 8;  // inputs per weighted_sum launch

struct BlendArgs {
  const float* inputs[kMaxBlend];
  int count;  // inputs in this launch
  int b0;     // index of inputs[0] among all B
  int64_t B, C, HW, total;
  bool accumulate;  // add to out (a later chunk of inputs) instead of starting it
};

__global__ void weighted_sum_kernel(const BlendArgs a, const float* __restrict__ weights,
                                    float* __restrict__ out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < a.total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / (a.C * a.HW), p = i % a.HW;
    float acc = a.accumulate ? out[i] : 0.f;
    for (int b = 0; b < a.count; ++b) {
      // Products rounded before the addition (no contraction into fmaf), as the CPU kernels.
      const float prod = __fmul_rn(weights[(n * a.B + a.b0 + b) * a.HW + p], a.inputs[b][i]);
      acc = (b == 0 && !a.accumulate) ? prod : __fadd_rn(acc, prod);
    }
    out[i] = acc;
  }
}

}  // namespace

void weighted_sum(const Context& ctx, const WeightedSumParams& p, const float* const* inputs,
                  const float* weights, float* out) {
  const int64_t total = p.N * p.C * p.HW;
  for (int64_t b0 = 0; b0 < p.B; b0 += kMaxBlend) {
    BlendArgs a{};
    a.count = int(std::min<int64_t>(kMaxBlend, p.B - b0));
    for (int b = 0; b < a.count; ++b) a.inputs[b] = inputs[b0 + b];
    a.b0 = int(b0), a.B = p.B, a.C = p.C, a.HW = p.HW, a.total = total;
    a.accumulate = b0 > 0;
    weighted_sum_kernel<<<grid_for(total), kThreads, 0, stream_of(ctx)>>>(a, weights, out);
    check_launch("weighted_sum");
  }
}

}  // namespace cuda
}  // namespace deblurcore
