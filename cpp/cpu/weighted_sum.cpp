// Fast CPU weighted_sum: a memory-bound blend the compiler vectorises (plain portable C++).
#include "backends.h"

namespace deblurcore {
namespace cpu {

void weighted_sum(const Context& ctx, const WeightedSumParams& p, const float* const* inputs,
                  const float* weights, float* out) {
  // Products are rounded before each addition (no fused multiply-add), as a framework
  // computing o0*a0 + o1*a1 + ... tensor by tensor does.
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads()) schedule(static)
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      float* o = out + (n * p.C + c) * p.HW;
      const float* w0 = weights + n * p.B * p.HW;
      const float* x0 = inputs[0] + (n * p.C + c) * p.HW;
      for (int64_t i = 0; i < p.HW; ++i) o[i] = w0[i] * x0[i];
      for (int64_t b = 1; b < p.B; ++b) {
        const float* wb = weights + (n * p.B + b) * p.HW;
        const float* xb = inputs[b] + (n * p.C + c) * p.HW;
        for (int64_t i = 0; i < p.HW; ++i) {
          const float prod = wb[i] * xb[i];
          o[i] = o[i] + prod;
        }
      }
    }
}

}  // namespace cpu
}  // namespace deblurcore
