// Scalar reference kernel of add: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void add(const Context& ctx, const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
