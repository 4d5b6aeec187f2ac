// Scalar reference kernel of sigmoid: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include <cmath>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void sigmoid(const Context& ctx, const float* x, float* out, int64_t n) {
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double(x[i]))));
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
