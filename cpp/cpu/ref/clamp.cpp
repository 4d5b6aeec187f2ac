// Scalar reference kernel of clamp: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include <algorithm>
#include <cmath>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void clamp(const Context& ctx, const float* x, float* out, int64_t n, float lo, float hi) {
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    out[i] = std::isnan(v) ? v : std::min(std::max(v, lo), hi);
  }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
