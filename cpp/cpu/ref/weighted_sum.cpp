// Scalar reference kernel of weighted_sum: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void weighted_sum(const Context& ctx, const WeightedSumParams& p, const float* const* inputs,
                  const float* weights, float* out) {
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t i = 0; i < p.HW; ++i) {
        float acc = 0.f;
        for (int64_t b = 0; b < p.B; ++b) {
          const float prod =
              weights[(n * p.B + b) * p.HW + i] * inputs[b][(n * p.C + c) * p.HW + i];
          acc = b == 0 ? prod : acc + prod;
        }
        out[(n * p.C + c) * p.HW + i] = acc;
      }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
